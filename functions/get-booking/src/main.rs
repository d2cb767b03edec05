//! GET /booking/{mysejahteraId}: the person's booking.
use shared::booking::BookingService;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let service = BookingService::new(RedisStore::from_env()?);
    shared::http::serve(|request| shared::http::get_booking(&service, request)).await
}
