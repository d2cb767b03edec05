//! The booking system's one library: every Lambda function links it and only wires it up.
//!
//! - [`domain`]: entities and value types that parse (a value that exists is valid);
//! - use cases: [`booking`], [`station`], [`seed`], written against the [`ports`];
//! - [`adapters`]: Redis store, HTTP entry points, configuration, telemetry.
pub mod adapters;
pub mod booking;
pub mod domain;
pub mod ports;
pub mod seed;
pub mod station;

pub use adapters::{config, http, redis as store, telemetry};
