//! Black-box tests of the HTTP handlers and the seed use case against a real redis-server.
mod booking_lifecycle;
mod create_booking;
mod events;
mod get_station;
mod healthz;
mod helpers;
mod local_api;
mod ownership;
mod redis_outage;
mod secrets;
mod seed;
mod telemetry;
