//! Scheduled (every minute) or invoked by hand: publishes what the outbox still holds.

use lambda_runtime::{LambdaEvent, service_fn};
use shared::kafka::KafkaPublisher;
use shared::outbox::{OutboxRelay, RelaySettings};
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let store = RedisStore::from_env()?;
    let publisher = KafkaPublisher::from_env().await?;
    let relay = OutboxRelay::new(store, publisher, RelaySettings::default());
    // The schedule's event carries nothing the relay needs.
    shared::telemetry::run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        let report = relay.run().await?;
        tracing::info!(
            published = report.published,
            remaining = report.remaining,
            skipped = report.skipped,
            "relay run"
        );
        Ok::<_, lambda_runtime::Error>(report)
    }))
    .await
}
