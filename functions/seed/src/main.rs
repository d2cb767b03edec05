//! One-off, non-HTTP: creates stations and their daily slots (see the README's "Seed").
use lambda_runtime::{LambdaEvent, service_fn};
use shared::seed::{SeedReport, SeedRequest, SeedService};
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let service = SeedService::new(RedisStore::from_env()?);
    shared::telemetry::run(service_fn(|event: LambdaEvent<SeedRequest>| async {
        let report: SeedReport = service.seed(event.payload).await?;
        tracing::info!(
            total_slots = report.total_slots,
            dates_skipped = report.dates_skipped,
            "seeded"
        );
        Ok::<_, lambda_runtime::Error>(report)
    }))
    .await
}
