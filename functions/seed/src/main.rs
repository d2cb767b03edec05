//! One-off, non-HTTP: creates stations and their daily slots (see the README's "Seed").
use lambda_runtime::{LambdaEvent, service_fn};
use shared::config::Config;
use shared::seed::{SeedReport, SeedRequest, SeedService};
use shared::store::{RedisStore, RedisTimeouts};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let service = SeedService::new(RedisStore::connect(
        &config.redis_url,
        RedisTimeouts::default(),
    )?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SeedRequest>| async {
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
