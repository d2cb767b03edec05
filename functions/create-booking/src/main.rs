//! POST /booking: book one slot for one person and publish its event; while the waiting room
//! is on, only for a person with a valid admission token.
use shared::config::WaitingRoomConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let gate = shared::adapters::admission_gate(&WaitingRoomConfig::from_env()?);
    let service = shared::booking_service_from_env().await?;
    shared::http::serve(|request| {
        shared::http::create_admitted_booking(gate.as_ref(), &service, request)
    })
    .await
}
