//! GET /stations/{location}: remaining slots per date at one station.
use shared::station::{STATION_CACHE_MAX_AGE, StationService};
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let service = StationService::cached(RedisStore::from_env()?, STATION_CACHE_MAX_AGE);
    shared::http::serve(|request| shared::http::get_station(&service, request)).await
}
