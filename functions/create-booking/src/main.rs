//! POST /booking: book one slot for one person and publish its event.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let service = shared::booking_service_from_env().await?;
    shared::http::serve(|request| shared::http::create_booking(&service, request)).await
}
