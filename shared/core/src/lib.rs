//! The booking system's core: what it books and the rules it books by, written against ports
//! that the backend crates (booking-redis, booking-kafka) implement and the entry points
//! (booking-http, the functions) call. No I/O crate is linked here.
//!
//! - [`domain`]: entities and value types that parse (a value that exists is valid);
//! - use cases: [`booking`], [`station`], [`seed`], written against the [`ports`];
//! - use case [`outbox`]: getting every event to the broker;
//! - use case [`ownership`]: booking references, so only the booker reads or cancels;
//! - [`identity`]: who may act for an ID (identity tokens, the gateway's verified claims);
//! - use case [`waiting_room`]: the opening-minute queue and its admission tokens;
//! - [`service_metrics`]: what the service counts, through the `metrics` facade;
//! - use case [`verification`]: a one-time code proves a phone, for an [`identity_token`];
//! - [`pseudonym`]: the keyed stand-in for a person in logs and metrics;
//! - [`config`]: the error every setting fails with, and the core's own settings.
pub mod booking;
pub mod check_in;
pub mod config;
pub mod domain;
pub mod hs256;
pub mod identity;
pub mod identity_token;
#[cfg(feature = "jwks")]
mod jwks;
pub mod outbox;
pub mod ownership;
pub mod ports;
pub mod pseudonym;
pub mod seed;
pub mod service_metrics;
pub mod station;
pub mod verification;
pub mod waiting_room;
