//! Black-box tests of the HTTP handlers and the seed use case against a real redis-server.
mod booking_lifecycle;
mod booking_retention;
mod create_booking;
mod events;
mod get_station;
mod healthz;
mod held_counts;
mod held_counts_property;
mod helpers;
mod local_api;
mod redis_eviction;
mod redis_failover;
mod redis_outage;
mod redis_replication;
mod redis_security;
mod seed;
mod telemetry;
