//! POST /booking: book one slot for one person.
use shared::booking::BookingService;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let service = BookingService::new(RedisStore::from_env()?);
    shared::http::serve(|request| shared::http::create_booking(&service, request)).await
}
