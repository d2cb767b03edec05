//! Entities and value types. Nothing here knows about HTTP, Redis or Lambda.
mod booking;
mod event;
mod fields;
mod idempotency;
mod reference;
mod station;
mod validation;

pub use booking::{BookedSlot, Booking, BookingRequest};
pub use event::{BookingEvent, EventRecord, EventStamp, EventType};
pub use fields::{
    Address, MAX_ADDRESS_CHARS, MAX_ID_LEN, MAX_NAME_CHARS, MySejahteraId, PersonName, PhoneNumber,
};
pub use idempotency::{IdempotencyKey, RetryKeyDigest};
pub use reference::{BookingOwnership, BookingReference, ReferenceNonce};
pub use station::{
    DateAvailability, Location, MAX_LOCATION_LEN, Slot, SlotDate, StationDates, StationDetails,
};
pub use validation::{ValidationError, is_hidden_format};

#[cfg(test)]
pub(crate) use booking::tests::valid_request;
