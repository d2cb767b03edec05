//! DELETE /booking/{mysejahteraId}: cancel the booking its reference proves, free its slot,
//! publish the event.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let service = shared::booking_service_from_env().await?;
    shared::http::serve(|request| shared::http::cancel_booking(&service, request)).await
}
