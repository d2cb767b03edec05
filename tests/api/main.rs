//! Black-box tests of the HTTP handlers and the seed use case against a real redis-server or
//! valkey-server (`ENGINE`, see helpers::Engine).
#[macro_use]
mod helpers;
mod batched_events;
mod booking_lifecycle;
mod booking_privacy;
mod booking_retention;
mod broker_faults;
mod cluster_moves;
mod cluster_protocol;
mod create_booking;
mod engine;
mod events;
mod get_station;
mod healthz;
mod held_counts;
mod held_counts_property;
mod identity_jwt;
mod local_api;
mod move_booking;
mod msk_discovery;
mod ownership;
mod redis_eviction;
mod redis_failover;
mod redis_outage;
mod redis_replication;
mod redis_security;
mod replica_failover;
mod secrets;
mod seed;
mod slip;
mod station_reads;
mod telemetry;
mod verification;
mod waiting_room;
