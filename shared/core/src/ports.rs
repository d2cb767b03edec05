//! What the use cases need from the outside world, as traits. Adapters implement them; unit
//! tests replace them with mockall mocks.
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::domain::{
    BookedSlot, Booking, BookingOwnership, EventRecord, EventStamp, Location, MySejahteraId,
    ReferenceNonce, Slot, SlotDate, StationDetails,
};

/// What the store decided about one booking attempt: atomically in one round trip on a single
/// Redis, by the claim protocol on a Redis Cluster (see `adapters::redis::protocol`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingOutcome {
    /// Stored, one slot taken, and the event appended to the outbox under this entry id,
    /// numbered `sequence` among the person's events.
    Created {
        outbox_id: String,
        sequence: u64,
    },
    /// The person already holds exactly this booking: a retried request, nothing changed. With
    /// what proves its owner (None for a booking stored before references existed).
    AlreadyHeld {
        ownership: Option<BookingOwnership>,
    },
    /// The person holds a different booking; nothing changed.
    AlreadyBooked,
    /// Another attempt of the person, for a different booking, is being decided (Redis
    /// Cluster's claim); nothing changed, retry shortly.
    InProgress,
    FullyBooked,
    UnknownStation,
    UnknownDate,
}

/// A booking as the store holds it, with what proves its owner (None for a booking stored
/// before references existed: nobody can prove owning it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBooking {
    pub booking: Booking,
    pub ownership: Option<BookingOwnership>,
}

/// A booking the store removed, and the outbox entry of its cancellation event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub booking: Booking,
    pub outbox_id: String,
    /// The cancellation event's number among the person's events.
    pub sequence: u64,
}

/// A booking the store moved, and the outbox entry of its `booking.rescheduled` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The booking at its new slot.
    pub booking: Booking,
    /// The slot it was freed from.
    pub from: BookedSlot,
    pub outbox_id: String,
    /// The event's number among the person's events.
    pub sequence: u64,
}

/// What the store decided about moving a booking; nothing changed unless `Moved`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    Moved(Moved),
    /// The booking holds the asked slot already (a repeated move): as stored.
    AlreadyThere(Booking),
    /// No booking under the nonce the caller's reference was checked against.
    NotBooked,
    /// Another request of the person is being decided (Redis Cluster); retry shortly.
    InProgress,
    FullyBooked,
    UnknownStation,
    UnknownDate,
}

/// One station's dates to create, each with the same daily capacity, and the details to show
/// (a detail left out keeps what the station had).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationPlan {
    pub location: Location,
    pub daily_capacity: u32,
    pub dates: Vec<SlotDate>,
    pub details: StationDetails,
}

/// What seeding one station changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StationSeeded {
    /// Dates written (new, or re-applied because of `reset`).
    pub dates_written: u32,
    /// Dates left untouched because they already existed.
    pub dates_skipped: u32,
    /// Dates a reset left untouched because they have no count of bookings held yet (data
    /// from before the count): their bookings must be counted first (`migrate_held_counts`).
    pub dates_unmigrated: u32,
}

/// What counting the bookings held of dates that had no count changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldMigrated {
    /// Dates that got a count.
    pub dates_migrated: u32,
    /// Booking records read.
    pub bookings_counted: u64,
    /// Keys renamed from the layout before hash tags.
    pub keys_renamed: u64,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time. The operation may or may not
    /// have been applied; repeating it is safe.
    #[error("the booking store is unavailable: {0}")]
    Unavailable(String),
    /// The store answered with something this code never writes.
    #[error("the booking store returned unexpected data: {0}")]
    UnexpectedReply(String),
}

/// What station reads need: the slots left per date.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait StationReads: Send + Sync {
    /// Every date of the station with its remaining slots, in no particular order; empty when
    /// the station is unknown.
    async fn station_slots(&self, location: &Location) -> Result<Vec<Slot>, StoreError>;

    /// Every date of every seeded station with its remaining slots, in no particular order (a
    /// station without dates is absent), and the details of the stations that have any.
    async fn all_stations(&self) -> Result<AllStations, StoreError>;
}

/// What the station list is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllStations {
    pub slots: Vec<Slot>,
    pub details: BTreeMap<Location, StationDetails>,
}

/// What booking, looking up and cancelling need: each change atomic with its outbox event.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BookingStore: Send + Sync {
    /// Takes one slot, stores the booking with `ownership` and appends `event` to the outbox,
    /// or explains why not, atomically.
    async fn book(
        &self,
        booking: &Booking,
        event: &EventRecord,
        ownership: &BookingOwnership,
    ) -> Result<BookingOutcome, StoreError>;

    /// The person's booking, if they hold one, read in one atomic step with its ownership.
    async fn find_booking(&self, id: &MySejahteraId) -> Result<Option<HeldBooking>, StoreError>;

    /// Removes the person's booking, frees its slot (never above the date's capacity) and
    /// appends its `booking.cancelled` event, stamped `stamp`, to the outbox, atomically, but
    /// only while the booking's nonce is still `nonce` (the one the caller's reference was
    /// verified against); returns what was removed, or None when they held no such booking.
    async fn cancel(
        &self,
        id: &MySejahteraId,
        stamp: &EventStamp,
        nonce: &ReferenceNonce,
    ) -> Result<Option<Cancelled>, StoreError>;

    /// Moves the person's booking to `to`, while its nonce is still `nonce`: takes a slot of
    /// `to`, frees the old one and appends its `booking.rescheduled` event, stamped `stamp`,
    /// all or nothing. The nonce (so the reference) stays.
    async fn move_booking(
        &self,
        id: &MySejahteraId,
        nonce: &ReferenceNonce,
        to: &BookedSlot,
        stamp: &EventStamp,
    ) -> Result<MoveOutcome, StoreError>;
}

/// What seeding needs: dates and their capacity.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SeedStore: Send + Sync {
    /// Creates the planned dates that do not exist yet; with `reset`, re-applies the capacity to
    /// existing dates too, keeping their booked slots booked.
    async fn seed_station(
        &self,
        plan: &StationPlan,
        reset: bool,
    ) -> Result<StationSeeded, StoreError>;

    /// One-off: renames keys of the layout before hash tags, then gives every date without a
    /// count of bookings held the number of booking records on it. Dates that have a count are
    /// left alone, so running it again is harmless.
    async fn migrate_held_counts(&self) -> Result<HeldMigrated, StoreError>;
}

/// What a health check needs.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Answers when the store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The time, as a port, so tests can move it (the booking reference's retry window) without
/// sleeping.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// An event waiting in the outbox, under the id the outbox gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: String,
    pub record: EventRecord,
}

/// Events written in the same atomic step as the booking change they describe, kept until the
/// broker acknowledged them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` entries, oldest first, that have waited at least `min_age`.
    async fn oldest(&self, limit: usize, min_age: Duration)
    -> Result<Vec<OutboxEntry>, StoreError>;

    /// Forgets delivered entries; unknown ids are ignored.
    async fn remove(&self, ids: &[String]) -> Result<(), StoreError>;

    /// How many entries wait.
    async fn depth(&self) -> Result<u64, StoreError>;

    /// A lease so that one relay runs at a time; None when another holds it.
    async fn acquire_relay_lease(&self, ttl: Duration) -> Result<Option<String>, StoreError>;

    /// Gives the lease back, if `token` still holds it.
    async fn release_relay_lease(&self, token: &str) -> Result<(), StoreError>;

    /// Extends the lease to `ttl` from now if `token` still holds it; false when it expired
    /// (and another relay may hold it now).
    async fn renew_relay_lease(&self, token: &str, ttl: Duration) -> Result<bool, StoreError>;
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    #[error("the broker did not acknowledge within {0:?}")]
    TimedOut(Duration),
}

/// The broker. `publish` returns Ok only once every record is acknowledged by all in-sync
/// replicas; on error some records may have been published (consumers dedupe by event id).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, records: &[EventRecord]) -> Result<(), PublishError>;
}

/// A shared publisher publishes as the one it points to.
#[async_trait]
impl<T: EventPublisher + ?Sized> EventPublisher for std::sync::Arc<T> {
    async fn publish(&self, records: &[EventRecord]) -> Result<(), PublishError> {
        (**self).publish(records).await
    }
}

/// One opening of the waiting room. Tickets and admission tokens carry its id, and nothing of
/// an earlier epoch is accepted; its keys expire when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomEpoch {
    pub id: u64,
    /// Unix ms, as Redis holds it (`openedAt`, `expiresAt`).
    #[serde(rename = "openedAt")]
    pub opened_at_ms: u64,
    #[serde(rename = "expiresAt")]
    pub expires_at_ms: u64,
    /// Places the room gives out at most; joins past it are refused.
    pub max_size: u64,
}

/// Where the waiting room stands: the highest position let in, and whether any slot is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueProgress {
    /// Every position up to and including this one is admitted.
    pub serving: u64,
    /// False once the inlet found no slot left anywhere (nobody should wait for nothing), and
    /// while no room is open.
    pub open: bool,
    /// The open room's epoch; None while no room is open.
    pub epoch: Option<u64>,
}

/// A person's one place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePlace {
    /// The room's epoch the place belongs to.
    pub epoch: u64,
    pub position: u64,
    /// False when the person already held this place (a repeated join).
    pub newly_queued: bool,
    pub progress: QueueProgress,
}

/// What a join got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueJoin {
    Placed(QueuePlace),
    /// No room is open (none was, or it closed or expired).
    NotOpen,
    /// Every place of the room is taken.
    Full {
        max_size: u64,
    },
}

/// The waiting room's counters. `person` is a keyed pseudonym, never the ID itself.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// The person's place in the open room, taken now or earlier, atomically: one place per
    /// person and epoch, at most the room's size.
    async fn join(&self, person: &str) -> Result<QueueJoin, StoreError>;

    /// The serving number, status and epoch, the same for everybody.
    async fn progress(&self) -> Result<QueueProgress, StoreError>;

    /// Slots left over every date of every station.
    async fn slots_left(&self) -> Result<u64, StoreError>;

    /// Advances the open room's serving number atomically by what `people_per_minute` allows
    /// since the last advance (shared by every inlet, so two running at once do not admit
    /// twice), never past the last position taken nor by more than `max_step`; with
    /// `sold_out`, admits nobody and closes the queue, otherwise (re)opens it. Does nothing
    /// while no room is open.
    async fn advance(
        &self,
        now_ms: u64,
        people_per_minute: u64,
        max_step: u64,
        sold_out: bool,
    ) -> Result<QueueProgress, StoreError>;

    /// Opens a new epoch (ending the current one, if any): an empty queue that lives
    /// `lifetime_ms` from `now_ms` and gives out at most `max_size` places.
    async fn open_room(
        &self,
        now_ms: u64,
        lifetime_ms: u64,
        max_size: u64,
    ) -> Result<RoomEpoch, StoreError>;

    /// Ends the open epoch: its tickets and tokens stop working at once, its keys go. The
    /// epoch that was open, if any.
    async fn close_room(&self) -> Result<Option<RoomEpoch>, StoreError>;
}
