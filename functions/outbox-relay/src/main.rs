//! Scheduled (every minute) or invoked by hand: publishes what the outbox still holds, then
//! reconciles booking holds left unsettled by a crash (Redis Cluster's booking protocol).

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
    let relay = OutboxRelay::new(store.clone(), publisher, RelaySettings::default());
    // The schedule's event carries nothing the relay needs; its context carries the deadline.
    shared::telemetry::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let relay = &relay;
        let store = &store;
        async move {
            let left = time_left(event.context.deadline, std::time::SystemTime::now());
            if left.is_none() {
                tracing::warn!(
                    deadline_ms = event.context.deadline,
                    "no usable invocation deadline; the run is bounded by its batch limit only"
                );
            }
            let deadline = left.map(|left| tokio::time::Instant::now() + left);
            let report = relay.run_until(deadline).await;
            // Also while the broker is down: releasing slots does not need it. Stop short of
            // the deadline by the relay's own margin, so the reply still goes out.
            let margin = RelaySettings::default().deadline_margin;
            let reconciled = store
                .reconcile(deadline.map(|deadline| deadline - margin))
                .await?;
            tracing::info!(
                settled = reconciled.settled,
                released = reconciled.released,
                in_flight = reconciled.in_flight,
                deadline_reached = reconciled.deadline_reached,
                "holds reconciled"
            );
            let report = report?;
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
