//! Scheduled (every minute) or invoked by hand: publishes what the outbox still holds.

use lambda_runtime::{LambdaEvent, service_fn};
use shared::kafka::KafkaPublisher;
use shared::outbox::{OutboxRelay, RelaySettings, time_left};
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let store = RedisStore::from_env()?;
    let publisher = KafkaPublisher::from_env().await?;
    let relay = OutboxRelay::new(store, publisher, RelaySettings::default());
    // The schedule's event carries nothing the relay needs; its context carries the deadline.
    shared::telemetry::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let relay = &relay;
        async move {
            let left = time_left(event.context.deadline, std::time::SystemTime::now());
            if left.is_none() {
                tracing::warn!(
                    deadline_ms = event.context.deadline,
                    "no usable invocation deadline; the run is bounded by its batch limit only"
                );
            }
            let report = relay
                .run_until(left.map(|left| tokio::time::Instant::now() + left))
                .await?;
            tracing::info!(
                published = report.published,
                remaining = report.remaining,
                skipped = report.skipped,
                deadline_reached = report.deadline_reached,
                "relay run"
            );
            Ok::<_, lambda_runtime::Error>(report)
        }
    }))
    .await
}
