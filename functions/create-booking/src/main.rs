//! POST /booking: book one slot for one person.
use shared::booking::BookingService;
use shared::config::Config;
use shared::store::{RedisStore, RedisTimeouts};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let service = BookingService::new(RedisStore::connect(
        &config.redis_url,
        RedisTimeouts::default(),
    )?);
    shared::http::serve(|request| shared::http::create_booking(&service, request)).await
}
