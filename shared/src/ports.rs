//! What the use cases need from the outside world, as traits. Adapters implement them; unit
//! tests replace them with mockall mocks.
use async_trait::async_trait;

use crate::domain::{Booking, Location, MySejahteraId, Slot, SlotDate};

/// What the store decided about one booking attempt. Decided atomically in one round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingOutcome {
    /// Stored, and one slot taken.
    Created,
    /// The person already holds exactly this booking: a retried request, nothing changed.
    AlreadyHeld,
    /// The person holds a different booking; nothing changed.
    AlreadyBooked,
    FullyBooked,
    UnknownStation,
    UnknownDate,
}

/// One station's dates to create, each with the same daily capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationPlan {
    pub location: Location,
    pub daily_capacity: u32,
    pub dates: Vec<SlotDate>,
}

/// What seeding one station changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StationSeeded {
    /// Dates written (new, or re-applied because of `reset`).
    pub dates_written: u32,
    /// Dates left untouched because they already existed.
    pub dates_skipped: u32,
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

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SlotStore: Send + Sync {
    /// Every date of the station with its remaining slots, in no particular order; empty when
    /// the station is unknown.
    async fn station_slots(&self, location: &Location) -> Result<Vec<Slot>, StoreError>;

    /// Takes one slot and stores the booking, or explains why not, atomically.
    async fn book(&self, booking: &Booking) -> Result<BookingOutcome, StoreError>;

    /// The person's booking, if they hold one.
    async fn find_booking(&self, id: &MySejahteraId) -> Result<Option<Booking>, StoreError>;

    /// Removes the person's booking and frees its slot (never above the date's capacity),
    /// atomically; returns what was removed, or None when they held no booking.
    async fn cancel(&self, id: &MySejahteraId) -> Result<Option<Booking>, StoreError>;

    /// Creates the planned dates that do not exist yet; with `reset`, re-applies the capacity to
    /// existing dates too, keeping their booked slots booked.
    async fn seed_station(
        &self,
        plan: &StationPlan,
        reset: bool,
    ) -> Result<StationSeeded, StoreError>;

    /// Answers when the store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
}
