//! Every HTTP endpoint on one port (`PORT`, default 3000), served by the same handlers the
//! Lambda functions run; `GET /metrics` on the operator port (`METRICS_PORT`).
use local_api::{LocalApi, Settings, prometheus, render_metrics, spawn_inlet};

// glibc malloc/free took about a quarter of this server's time on the booking path (perf): many
// small, short-lived allocations from several threads, which mimalloc serves from thread-local
// pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    booking_secrets::load_settings().await?;
    booking_runtime::start();
    let settings = Settings::from_lookup(booking_runtime::setting)?;
    let (address, metrics_address, limits) =
        (settings.address, settings.metrics_address, settings.limits);
    tracing::info!(%address, %metrics_address, ?limits, room_on = settings.room.room_on, identity = ?settings.bookings.identity.mode, batch = ?settings.batch, "serving every endpoint, metrics apart");
    let metrics = prometheus()?;
    let LocalApi {
        api,
        inlet,
        room_admin,
    } = LocalApi::build(settings).await?;
    if let Some(admin) = room_admin {
        match admin.open_unless_open().await {
            Ok(Some(epoch)) => tracing::info!(epoch = epoch.id, "waiting room opened"),
            Ok(None) => tracing::info!("waiting room already open"),
            Err(error) => {
                tracing::warn!(%error, "could not open the waiting room; joins answer room_not_open")
            }
        }
    }
    spawn_inlet(inlet);
    let listener = tokio::net::TcpListener::bind(address).await?;
    let metrics_listener = tokio::net::TcpListener::bind(metrics_address)
        .await
        .map_err(|error| format!("METRICS_PORT: cannot listen on {metrics_address}: {error}"))?;
    // Ends with the process: a scrape has nothing to drain.
    tokio::spawn(booking_http::operator::serve_metrics(
        metrics_listener,
        render_metrics(metrics),
        std::future::pending(),
    ));
    booking_http::server::serve_with(
        listener,
        api,
        limits,
        booking_http::server::shutdown_signal(),
    )
    .await;
    Ok(())
}
