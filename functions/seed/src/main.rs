//! One-off, non-HTTP: creates stations and their daily slots (see the README's "Seed").
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::seed::{SeedEvent, SeedService};
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let service = SeedService::new(RedisStore::from_env()?);
    shared::telemetry::run(service_fn(|event: LambdaEvent<SeedEvent>| async {
        let reply = match event.payload {
            SeedEvent::Seed(request) => {
                let report = service.seed(request).await?;
                tracing::info!(
                    total_slots = report.total_slots,
                    dates_skipped = report.dates_skipped,
                    "seeded"
                );
                serde_json::to_value(report)?
            }
            SeedEvent::Migrate => {
                let report = service.migrate().await?;
                tracing::info!(
                    dates_migrated = report.dates_migrated,
                    bookings_counted = report.bookings_counted,
                    "counted the bookings held"
                );
                serde_json::to_value(report)?
            }
        };
        Ok::<Value, lambda_runtime::Error>(reply)
    }))
    .await
}
