//! Every HTTP endpoint on one port (`PORT`, default 3000), served by the same handlers the
//! Lambda functions run: for load tests, container hosting and the fuzz step of `make test`.
//! `GET /metrics` (Prometheus text format) is on a separate operator port (`METRICS_PORT`).
use std::sync::Arc;
use std::time::Duration;

use shared::booking::PublishSettings;
use shared::config::{KafkaBatchConfig, ServerLimits, WaitingRoomConfig};
use shared::http::Api;
use shared::kafka::{BatchingPublisher, KafkaPublisher};
use shared::station::STATION_CACHE_MAX_AGE;
use shared::store::RedisStore;
use shared::waiting_room::{Inlet, SystemClock};

// glibc malloc/free took about a quarter of this server's time on the booking path (perf): many
// small, short-lived allocations from several threads, which mimalloc serves from thread-local
// pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let env = |name: &str| std::env::var(name).ok();
    let address = shared::config::listen_address(env)?;
    let metrics_address = shared::config::metrics_address(env)?;
    let limits = ServerLimits::from_lookup(env)?;
    let max_in_flight = shared::config::max_in_flight(env)?;
    let room_config = WaitingRoomConfig::from_env()?;
    let store = RedisStore::from_env()?;
    let batch = KafkaBatchConfig::from_env()?;
    let publish = PublishSettings::default();
    // A long-lived process: concurrent bookings' events share produce requests.
    let publisher =
        BatchingPublisher::new(KafkaPublisher::from_env().await?, &batch, publish.timeout);
    let metrics = shared::telemetry::metrics::prometheus()?;
    let references = shared::booking_references_from_env()?;
    let room = shared::adapters::waiting_room(store.clone(), &room_config);
    spawn_inlet(Inlet::new(
        Arc::new(store.clone()),
        room_config.inlet,
        Arc::new(SystemClock),
    ));
    let api = Api::new(store.clone(), store, publisher, publish, references)
        .with_station_cache(STATION_CACHE_MAX_AGE)
        .with_waiting_room(room, room_config.room_on)
        .with_in_flight_limit(max_in_flight);
    let listener = tokio::net::TcpListener::bind(address).await?;
    let metrics_listener = tokio::net::TcpListener::bind(metrics_address)
        .await
        .map_err(|error| format!("METRICS_PORT: cannot listen on {metrics_address}: {error}"))?;
    tracing::info!(%address, %metrics_address, ?limits, room_on = room_config.room_on, ?batch, "serving every endpoint, metrics apart");
    // Ends with the process: a scrape has nothing to drain.
    tokio::spawn(shared::http::operator::serve_metrics(
        metrics_listener,
        metrics,
        std::future::pending(),
    ));
    shared::http::server::serve_with(
        listener,
        api,
        limits,
        shared::http::server::shutdown_signal(),
    )
    .await;
    Ok(())
}

/// The waiting room's inlet, once a second, in place of the scheduled `queue-inlet` function.
fn spawn_inlet(inlet: Inlet) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        loop {
            interval.tick().await;
            if let Err(error) = inlet.tick().await {
                tracing::warn!(%error, "inlet tick failed");
            }
        }
    });
}
