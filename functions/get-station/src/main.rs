//! GET /stations/{location} and GET /stations: remaining slots per date at one station, and
//! at every station. One function for both, so that both share its warm containers, their
//! Redis connection and their in-process cache.
use shared::station::{STATION_CACHE_MAX_AGE, StationService};
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let service = StationService::cached(RedisStore::from_env()?, STATION_CACHE_MAX_AGE);
    shared::http::serve(|request| shared::http::station_reads(&service, request)).await
}
