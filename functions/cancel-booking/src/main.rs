//! DELETE /booking/{mysejahteraId}: cancel the person's booking and free its slot.
use shared::booking::BookingService;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let service = BookingService::new(RedisStore::from_env()?);
    shared::http::serve(|request| shared::http::cancel_booking(&service, request)).await
}
