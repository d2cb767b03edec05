//! Everything that talks to the outside world: Redis, HTTP, the environment, logs.
pub mod config;
pub mod http;
pub mod kafka;
pub mod redis;
pub mod telemetry;
