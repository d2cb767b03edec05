//! GET /stations/{location}: remaining slots per date at one station.
use shared::config::Config;
use shared::station::StationService;
use shared::store::{RedisStore, RedisTimeouts};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let service = StationService::new(RedisStore::connect(
        &config.redis_url,
        RedisTimeouts::default(),
    )?);
    shared::http::serve(|request| shared::http::get_station(&service, request)).await
}
