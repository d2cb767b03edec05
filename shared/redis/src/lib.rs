//! The Redis store. The same keys on a single Redis and on a Redis Cluster; braces are hash
//! tags, so every script's keys share one hash slot. Data model (documented for operators in
//! the README):
//! - `slots:{L}`      hash, date (YYYYMMDD) -> remaining slots; one station in one read
//! - `capacity:{L}`   hash, date -> daily capacity
//! - `held:{L}`       hash, date -> bookings held; remaining = max(capacity - held, 0), so a
//!   reset never re-opens booked slots
//! - `holders:{L}`    hash, person ID -> `holdId|date`: who holds a slot at the station
//! - `moving:{L}`     hash, person ID -> `holdId|date`: the booking's hold parked while it
//!   moves to another date of the station (cluster protocol), empty at rest
//! - `unsettled:{L}`  sorted set, person ID -> Unix ms: holds whose person side is not known to
//!   be settled yet (cluster protocol), the reconciler's work list
//! - `booking:{p:NNN}:ID`  string, the person's one booking as canonical JSON
//! - `booking-owner:{p:NNN}:ID` hash, `nonce` (32 hex digits), `bookedAt` (Unix ms) and
//!   `holdId` of that booking: its reference is derived from the nonce with a key Redis never sees
//! - `booking-retry:{p:NNN}:ID` string, the keyed digest of the booking's `Idempotency-Key`
//!   (64 hex digits), for the reference's retry window (15 minutes)
//! - `event-seq:{p:NNN}:ID` counter, the sequence of the person's last event (never deleted)
//! - `claim:{p:NNN}:ID`    hash, the person's booking attempt in progress (cluster protocol)
//! - `outbox:{p:NNN}` stream per person bucket of events not yet acknowledged by the broker
//!   (fields `key`, `event`), appended by the same script that changes the booking
//! - `fence:{tag}`    string, written by a step that must wait for the replicas to have what
//!   it read in that hash slot ([`fence_key`]); holds nothing anybody reads
//! - `stations`       set of every seeded location
//! - `outbox:relay-lease`  string, held by the one relay that runs
//! - `queue:{room}:...`    the waiting room (see [`queue`])
//! - `otp:{P}:...`     one-time codes of a phone (see [`verification`])
//!
//! L is the location, NNN the person's bucket ([`person_bucket`]). Identifiers in keys are
//! restricted by the domain types to `[A-Za-z0-9_-]`, so user input can never address another
//! key.

/// A script assembled from shared Lua function files and the script that uses them, in that
/// order, after `#!lua`: Redis (7+) then checks memory once before the script runs, so a script
/// that writes runs whole or not at all. Defined before the submodules so they can use it.
macro_rules! composed_script {
    ($($part:literal),+ $(,)?) => {
        LazyLock::new(|| Script::new(concat!("#!lua\n", $(include_str!($part)),+)))
    };
}

pub mod config;
mod connection;
mod keys;
mod migrate;
mod outbox;
pub mod protocol;
pub mod queue;
pub mod retention;
mod slots;
mod store;
pub mod verification;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::ConnectionManagerConfig;
use redis::{
    AsyncCommands, ErrorKind, FromRedisValue, RedisResult, Script, ScriptInvocation,
    ServerErrorKind, TlsCertificates,
};
use secrecy::ExposeSecret;

use self::connection::{Reconnecting, SharedConnection};
pub use self::connection::{RoundTripGate, StoreConnection};
use crate::config::{DEFAULT_BOOKING_RETENTION_DAYS, RedisConfig, ReplicaWait};
use booking_core::domain::{
    BookedSlot, Booking, BookingEvent, BookingOwnership, BookingRequest, EventRecord, EventStamp,
    Location, MySejahteraId, ReferenceNonce, RetryKeyDigest, Slot, SlotDate, StationDetails,
};
use booking_core::ownership::REFERENCE_RETRY_WINDOW;
use booking_core::ports::{
    AllStations, BookingOutcome, BookingStore, Cancelled, Clock, HealthCheck, HeldBooking,
    HeldMigrated, MoveOutcome, Moved, Outbox, OutboxEntry, SeedStore, StationPlan, StationReads,
    StationSeeded, StoreError, SystemClock,
};
use booking_core::service_metrics;
use booking_core::service_metrics::store_call;

pub use keys::*;
pub use store::{RedisOptions, RedisStore, RedisTimeouts};
#[allow(unused_imports)] // What the modules share with one another through `use super::*`.
use {outbox::*, slots::*, store::*};
