//! POST /queue: take one place in the waiting room.
use shared::config::WaitingRoomConfig;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let room =
        shared::adapters::waiting_room(RedisStore::from_env()?, &WaitingRoomConfig::from_env()?);
    shared::http::serve(|request| shared::http::join_queue(&room, request)).await
}
