//! GET /booking/{mysejahteraId}: the person's booking, to whoever shows its reference.
use shared::booking::BookingLookup;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let lookup = BookingLookup::new(
        RedisStore::from_env()?,
        shared::booking_references_from_env()?,
    );
    shared::http::serve(|request| shared::http::get_booking(&lookup, request)).await
}
