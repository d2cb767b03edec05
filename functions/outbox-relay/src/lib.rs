//! Scheduled (every minute) or invoked by hand: publishes what the outbox still holds, then
//! reconciles booking holds left unsettled by a crash (Redis Cluster's booking protocol), then
//! removes the dates past retention with their holders.
use std::time::SystemTime;

use booking_core::config::ConfigError;
use booking_core::outbox::{OutboxRelay, RelayReport, RelaySettings, time_left};
use booking_core::ports::StoreError;
use booking_kafka::KafkaPublisher;
use booking_kafka::config::KafkaConfig;
use booking_redis::RedisStore;
use booking_redis::config::RedisConfig;

pub struct Settings {
    pub redis: RedisConfig,
    pub kafka: KafkaConfig,
    /// Not variables: how much a run takes on, and how close to the deadline it stops.
    pub relay: RelaySettings,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            redis: RedisConfig::from_lookup(&lookup)?,
            kafka: KafkaConfig::from_lookup(&lookup)?,
            relay: RelaySettings::default(),
        })
    }
}

pub struct Relay {
    store: RedisStore,
    relay: OutboxRelay<RedisStore, KafkaPublisher>,
    margin: std::time::Duration,
}

impl Relay {
    pub async fn build(settings: Settings) -> Result<Self, StoreError> {
        let store = RedisStore::from_config(settings.redis)?;
        let publisher = KafkaPublisher::from_config(&settings.kafka).await;
        Ok(Self {
            margin: settings.relay.deadline_margin,
            relay: OutboxRelay::new(store.clone(), publisher, settings.relay),
            store,
        })
    }

    /// One run, until `deadline_epoch_ms` (the invocation's deadline) less the relay's margin.
    /// The schedule's event carries nothing the relay needs.
    pub async fn handle(
        &self,
        deadline_epoch_ms: u64,
    ) -> Result<RelayReport, lambda_runtime::Error> {
        let left = time_left(deadline_epoch_ms, SystemTime::now());
        if left.is_none() {
            tracing::warn!(
                deadline_ms = deadline_epoch_ms,
                "no usable invocation deadline; the run is bounded by its batch limit only"
            );
        }
        let deadline = left.map(|left| tokio::time::Instant::now() + left);
        let report = self.relay.run_until(deadline).await;
        // Also while the broker is down: releasing slots does not need it. Stop short of the
        // deadline by the relay's own margin, so the reply still goes out.
        let reconciled = self
            .store
            .reconcile(deadline.map(|deadline| deadline - self.margin))
            .await?;
        tracing::info!(
            settled = reconciled.settled,
            released = reconciled.released,
            in_flight = reconciled.in_flight,
            deadline_reached = reconciled.deadline_reached,
            "holds reconciled"
        );
        // Retention: dates past BOOKING_RETENTION_DAYS leave with their holders (the booking
        // records have expired by themselves).
        let forgotten = self
            .store
            .forget_past_dates(deadline.map(|deadline| deadline - self.margin))
            .await?;
        if forgotten.dates > 0 || forgotten.deadline_reached {
            tracing::info!(
                dates = forgotten.dates,
                holders = forgotten.holders,
                deadline_reached = forgotten.deadline_reached,
                "dates past retention forgotten"
            );
        }
        let report = report?;
        tracing::info!(
            published = report.published,
            remaining = report.remaining,
            skipped = report.skipped,
            deadline_reached = report.deadline_reached,
            "relay run"
        );
        Ok(report)
    }
}
