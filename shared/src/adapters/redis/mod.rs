//! The Redis store. Data model (documented for operators in the README):
//! - `slots:{location}`    hash, date (YYYYMMDD) -> remaining slots; one station in one read
//! - `capacity:{location}` hash, date -> daily capacity, so a reset never re-opens booked slots
//! - `booking:{id}`        string, the person's one booking as canonical JSON
//! - `booking-owner:{id}`  hash, `nonce` (32 hex digits) and `bookedAt` (Unix ms) of that booking:
//!   its reference is derived from the nonce with a key Redis never sees
//! - `stations`            set of every seeded location
//! - `outbox:booking-events` stream of events not yet acknowledged by the broker (fields `key`,
//!   `event`), appended by the same script that changes the booking
//! - `outbox:relay-lease`  string, held by the one relay that runs
//!
//! Identifiers in keys are restricted by the domain types to `[A-Za-z0-9_-]`, so user input
//! can never address another key.
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use crate::adapters::config::Config;
use crate::adapters::telemetry::metrics::store_call;
use crate::domain::{
    Booking, BookingOwnership, BookingRequest, EventRecord, EventStamp, Location, MySejahteraId,
    ReferenceNonce, Slot, SlotDate,
};
use crate::ports::{
    BookingOutcome, Cancelled, HeldBooking, Outbox, OutboxEntry, SlotStore, StationPlan,
    StationSeeded, StoreError,
};

static BOOK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("book.lua")));
static SEED: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("seed.lua")));
static CANCEL: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("cancel.lua")));
static OUTBOX_OLDEST: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("outbox_oldest.lua")));
static RELEASE_LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("release_lease.lua")));

pub const STATIONS_KEY: &str = "stations";
pub const OUTBOX_KEY: &str = "outbox:booking-events";
pub const RELAY_LEASE_KEY: &str = "outbox:relay-lease";
// The cancel script derives a station's keys from the booking it reads, so it is handed the
// prefixes rather than repeating them.
const SLOTS_PREFIX: &str = "slots:";
const CAPACITY_PREFIX: &str = "capacity:";

pub fn slots_key(location: &Location) -> String {
    format!("{SLOTS_PREFIX}{location}")
}

pub fn capacity_key(location: &Location) -> String {
    format!("{CAPACITY_PREFIX}{location}")
}

pub fn booking_key(id: &MySejahteraId) -> String {
    format!("booking:{}", id.as_str())
}

pub fn booking_owner_key(id: &MySejahteraId) -> String {
    format!("booking-owner:{}", id.as_str())
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The `booking-owner:{id}` fields back into an ownership; both absent means a booking stored
/// before references existed.
fn stored_ownership(
    nonce: Option<&str>,
    booked_at: Option<&str>,
) -> Result<Option<BookingOwnership>, StoreError> {
    let (nonce, booked_at) = match (nonce, booked_at) {
        (None | Some(""), None | Some("")) => return Ok(None),
        (Some(nonce), Some(booked_at)) => (nonce, booked_at),
        _ => {
            return Err(StoreError::UnexpectedReply(
                "booking owner record lacks nonce or bookedAt".into(),
            ));
        }
    };
    let nonce = ReferenceNonce::from_hex(nonce).ok_or_else(|| {
        StoreError::UnexpectedReply("booking owner record holds an invalid nonce".into())
    })?;
    let millis: u64 = booked_at.parse().map_err(|_| {
        StoreError::UnexpectedReply("booking owner record holds an invalid bookedAt".into())
    })?;
    Ok(Some(BookingOwnership {
        nonce,
        booked_at: SystemTime::UNIX_EPOCH + Duration::from_millis(millis),
    }))
}

/// Bounds on waiting for Redis: a booking rush must fail fast with 503 rather than pile up
/// requests behind a dead connection.
#[derive(Debug, Clone, Copy)]
pub struct RedisTimeouts {
    pub connect: Duration,
    pub response: Duration,
}

impl Default for RedisTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(1000),
            response: Duration::from_millis(2000),
        }
    }
}

/// One multiplexed connection per container, shared by every invocation. It connects lazily
/// (a cold start with Redis down still answers 503 instead of failing init) and reconnects by
/// itself after Redis restarts.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
}

impl RedisStore {
    pub fn connect(url: &str, timeouts: RedisTimeouts) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response))
            // Few, short retries: a waiting request is worse than a quick 503 the client retries.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Connect now, in the background, while the runtime starts (Lambda's init phase runs
        // at full CPU): the first request then finds the connection ready instead of paying
        // for it. Still lazy in effect: with Redis down, start-up goes on and requests get 503.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut warm = connection.clone();
            runtime.spawn(async move {
                let _ = redis::cmd("PING").query_async::<String>(&mut warm).await;
            });
        }
        Ok(Self { connection })
    }

    /// The store the environment names (`REDIS_URL`), with production timeouts: what every
    /// function's `main` needs. Fails naming the variable when the setting is invalid.
    pub fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_env()?;
        Ok(Self::connect(&config.redis_url, RedisTimeouts::default())?)
    }

    /// The connection, for tests and tools that inspect the data model directly.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// A stored booking back into its value type; only this code writes them, so a failure means
/// the data was edited by hand.
fn stored_booking(json: &str) -> Result<Booking, StoreError> {
    // serde's message can quote the offending value (a name, a phone number): keep only
    // what kind of error and where, since this message reaches the logs.
    let request: BookingRequest = serde_json::from_str(json).map_err(|e| {
        StoreError::UnexpectedReply(format!(
            "stored booking: {:?} error at column {}",
            e.classify(),
            e.column()
        ))
    })?;
    Booking::parse(&request)
        .map_err(|e| StoreError::UnexpectedReply(format!("stored booking: {e}")))
}

#[async_trait]
impl SlotStore for RedisStore {
    async fn station_slots(&self, location: &Location) -> Result<Vec<Slot>, StoreError> {
        let mut connection = self.connection.clone();
        let raw: Vec<(String, i64)> =
            store_call("station_slots", connection.hgetall(slots_key(location)))
                .await
                .map_err(unavailable)?;
        raw.into_iter()
            .map(|(date, remaining)| {
                let date = SlotDate::parse(&date)
                    .map_err(|e| StoreError::UnexpectedReply(format!("{location}: {e}")))?;
                Ok(Slot {
                    location: location.clone(),
                    date,
                    // A counter never goes below zero; clamp rather than fail a read if an
                    // operator edited it by hand.
                    availability: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    async fn book(
        &self,
        booking: &Booking,
        event: &EventRecord,
        ownership: &BookingOwnership,
    ) -> Result<BookingOutcome, StoreError> {
        let mut connection = self.connection.clone();
        // The one round trip a booking makes: its span and latency are the booking's cost.
        let reply: Vec<String> = store_call(
            "book",
            BOOK.key(slots_key(&booking.location))
                .key(booking_key(&booking.mysejahtera_id))
                .key(OUTBOX_KEY)
                .key(booking_owner_key(&booking.mysejahtera_id))
                .arg(booking.date.to_string())
                .arg(booking.to_json())
                .arg(&event.key)
                .arg(&event.payload)
                .arg(ownership.nonce.to_hex())
                .arg(unix_millis(ownership.booked_at))
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        match reply.as_slice() {
            [outcome, outbox_id] if outcome == "created" => Ok(BookingOutcome::Created {
                outbox_id: outbox_id.clone(),
            }),
            [outcome, nonce, booked_at] if outcome == "already_held" => {
                Ok(BookingOutcome::AlreadyHeld {
                    ownership: stored_ownership(Some(nonce), Some(booked_at))?,
                })
            }
            [outcome] => match outcome.as_str() {
                "already_booked" => Ok(BookingOutcome::AlreadyBooked),
                "fully_booked" => Ok(BookingOutcome::FullyBooked),
                "unknown_station" => Ok(BookingOutcome::UnknownStation),
                "unknown_date" => Ok(BookingOutcome::UnknownDate),
                other => Err(StoreError::UnexpectedReply(format!(
                    "booking script said {other:?}"
                ))),
            },
            other => Err(StoreError::UnexpectedReply(format!(
                "booking script said {other:?}"
            ))),
        }
    }

    async fn find_booking(&self, id: &MySejahteraId) -> Result<Option<HeldBooking>, StoreError> {
        let mut connection = self.connection.clone();
        // MULTI/EXEC: the booking and its owner record as of one moment, in one round trip.
        let (stored, (nonce, booked_at)): (Option<String>, (Option<String>, Option<String>)) =
            store_call(
                "find_booking",
                redis::pipe()
                    .atomic()
                    .get(booking_key(id))
                    .hmget(booking_owner_key(id), &["nonce", "bookedAt"])
                    .query_async(&mut connection),
            )
            .await
            .map_err(unavailable)?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        Ok(Some(HeldBooking {
            booking: stored_booking(&stored)?,
            ownership: stored_ownership(nonce.as_deref(), booked_at.as_deref())?,
        }))
    }

    async fn cancel(
        &self,
        id: &MySejahteraId,
        stamp: &EventStamp,
        nonce: &ReferenceNonce,
    ) -> Result<Option<Cancelled>, StoreError> {
        let mut connection = self.connection.clone();
        let removed: Option<(String, String)> = store_call(
            "cancel",
            CANCEL
                .key(booking_key(id))
                .key(OUTBOX_KEY)
                .key(booking_owner_key(id))
                .arg(SLOTS_PREFIX)
                .arg(CAPACITY_PREFIX)
                .arg(&stamp.event_id)
                .arg(&stamp.occurred_at)
                .arg(id.as_str())
                .arg(nonce.to_hex())
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        removed
            .map(|(held, outbox_id)| {
                Ok(Cancelled {
                    booking: stored_booking(&held)?,
                    outbox_id,
                })
            })
            .transpose()
    }

    async fn seed_station(
        &self,
        plan: &StationPlan,
        reset: bool,
    ) -> Result<StationSeeded, StoreError> {
        let mut connection = self.connection.clone();
        let mut invocation = SEED.prepare_invoke();
        invocation
            .key(slots_key(&plan.location))
            .key(capacity_key(&plan.location))
            .key(STATIONS_KEY)
            .arg(plan.location.as_str())
            .arg(plan.daily_capacity)
            .arg(if reset { "1" } else { "0" });
        for date in &plan.dates {
            invocation.arg(date.to_string());
        }
        let (dates_written, dates_skipped): (u32, u32) =
            store_call("seed_station", invocation.invoke_async(&mut connection))
                .await
                .map_err(unavailable)?;
        Ok(StationSeeded {
            dates_written,
            dates_skipped,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        store_call(
            "ping",
            redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await
        .map(drop)
        .map_err(unavailable)
    }
}

#[async_trait]
impl Outbox for RedisStore {
    async fn oldest(
        &self,
        limit: usize,
        min_age: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut connection = self.connection.clone();
        let raw: Vec<(String, HashMap<String, String>)> = store_call(
            "outbox_oldest",
            OUTBOX_OLDEST
                .key(OUTBOX_KEY)
                .arg(u64::try_from(min_age.as_millis()).unwrap_or(u64::MAX))
                .arg(limit)
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        raw.into_iter()
            .map(
                |(id, mut fields)| match (fields.remove("key"), fields.remove("event")) {
                    (Some(key), Some(payload)) => Ok(OutboxEntry {
                        id,
                        record: EventRecord { key, payload },
                    }),
                    _ => Err(StoreError::UnexpectedReply(format!(
                        "outbox entry {id} lacks key or event"
                    ))),
                },
            )
            .collect()
    }

    async fn remove(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection.clone();
        store_call(
            "outbox_remove",
            connection.xdel::<_, _, ()>(OUTBOX_KEY, ids),
        )
        .await
        .map_err(unavailable)
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        let mut connection = self.connection.clone();
        store_call("outbox_depth", connection.xlen(OUTBOX_KEY))
            .await
            .map_err(unavailable)
    }

    async fn acquire_relay_lease(&self, ttl: Duration) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        let token = uuid::Uuid::new_v4().to_string();
        let acquired: Option<String> = store_call(
            "acquire_relay_lease",
            redis::cmd("SET")
                .arg(RELAY_LEASE_KEY)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
                .query_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        Ok(acquired.map(|_| token))
    }

    async fn release_relay_lease(&self, token: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        store_call(
            "release_relay_lease",
            RELEASE_LEASE
                .key(RELAY_LEASE_KEY)
                .arg(token)
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
        .map_err(unavailable)
    }
}
