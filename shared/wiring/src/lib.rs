//! The booking service as the functions that book or cancel run it: Redis as store and
//! outbox, the broker the settings name, the reference key, who may act for an ID. One wiring
//! for create-booking, move-booking, cancel-booking, local-api and the tests, so the tests run
//! what is deployed; the identity check alone (without the `bookings` feature) for get-booking
//! and queue-join.
mod identity;

pub use identity::{BuildError, identity_check};

#[cfg(feature = "bookings")]
mod bookings;
#[cfg(feature = "bookings")]
pub use bookings::{BookingSettings, Bookings};
