//! The booking system's one library: every Lambda function links it and only wires it up.
//!
//! - [`domain`]: entities and value types that parse (a value that exists is valid);
//! - use cases: [`booking`], [`station`], [`seed`], written against the [`ports`];
//! - use case [`outbox`]: getting every event to the broker;
//! - use case [`ownership`]: booking references, so only the booker reads or cancels;
//! - [`service_metrics`]: what the service counts, through the `metrics` facade;
//! - [`adapters`]: Redis store, Kafka publisher, HTTP entry points, configuration, telemetry.
pub mod adapters;
pub mod booking;
pub mod domain;
pub mod outbox;
pub mod ownership;
pub mod ports;
pub mod seed;
pub mod service_metrics;
pub mod station;

pub use adapters::{
    booking_references_from_env, booking_service_from_env, config, http, kafka, redis as store,
    telemetry,
};
