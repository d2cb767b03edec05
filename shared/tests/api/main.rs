//! Black-box tests of the HTTP handlers and the seed use case against a real redis-server.
mod create_booking;
mod events;
mod get_station;
mod helpers;
mod redis_outage;
mod seed;
