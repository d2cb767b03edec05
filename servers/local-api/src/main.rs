//! Every HTTP endpoint on one port (`PORT`, default 3000), served by the same handlers the
//! Lambda functions run: for load tests, container hosting and the fuzz step of `make test`.
//! `GET /metrics` serves the Prometheus text format.
use shared::booking::PublishSettings;
use shared::http::Api;
use shared::kafka::KafkaPublisher;
use shared::station::STATION_CACHE_MAX_AGE;
use shared::store::RedisStore;

// glibc malloc/free took about a quarter of this server's time on the booking path (perf): many
// small, short-lived allocations from several threads, which mimalloc serves from thread-local
// pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    shared::telemetry::init();
    let address = shared::config::listen_address(|name| std::env::var(name).ok())?;
    let store = RedisStore::from_env()?;
    let publisher = KafkaPublisher::from_env().await?;
    let metrics = shared::telemetry::metrics::prometheus()?;
    let references = shared::booking_references_from_env()?;
    let api = Api::new(
        store.clone(),
        store,
        publisher,
        PublishSettings::default(),
        references,
    )
    .with_station_cache(STATION_CACHE_MAX_AGE)
    .with_metrics(metrics);
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "serving every endpoint");
    shared::http::server::serve(listener, api, shared::http::server::shutdown_signal()).await;
    Ok(())
}
