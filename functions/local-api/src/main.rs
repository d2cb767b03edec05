//! Every HTTP endpoint on one port (`PORT`, default 3000), served by the same handlers the
//! Lambda functions run: for load tests, container hosting and the fuzz step of `make test`.
use shared::booking::BookingService;
use shared::http::Api;
use shared::station::StationService;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    shared::telemetry::init();
    let address = shared::config::listen_address(|name| std::env::var(name).ok())?;
    let store = RedisStore::from_env()?;
    let api = Api::new(
        StationService::new(store.clone()),
        BookingService::new(store),
    );
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "serving every endpoint");
    shared::http::server::serve(listener, api, shared::http::server::shutdown_signal()).await;
    Ok(())
}
