//! GET /queue (the serving number, the same for everybody) and GET /queue/{ticket} (one
//! ticket's standing and, once admitted, its admission token).
use shared::config::WaitingRoomConfig;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let room =
        shared::adapters::waiting_room(RedisStore::from_env()?, &WaitingRoomConfig::from_env()?);
    shared::http::serve(|request| shared::http::queue_status(&room, request)).await
}
