//! Use case: get every outbox event to the broker. A broker outage delays events; it never
//! loses one, and never fails the booking that produced it.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing::Instrument;

use crate::domain::EventRecord;
use crate::ports::{EventPublisher, Outbox, OutboxEntry, PublishError, StoreError};
use crate::service_metrics;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Published, but still in the outbox: it will be published again (same event id).
    #[error("published but not removed from the outbox: {0}")]
    Remove(StoreError),
}

/// Publishes `entries` in order, then removes them from the outbox. Only what the broker
/// acknowledged within `timeout` is removed.
pub async fn deliver<O: Outbox, P: EventPublisher>(
    outbox: &O,
    publisher: &P,
    entries: &[OutboxEntry],
    timeout: Duration,
) -> Result<(), DeliveryError> {
    if entries.is_empty() {
        return Ok(());
    }
    let records: Vec<EventRecord> = entries.iter().map(|e| e.record.clone()).collect();
    let started = Instant::now();
    let published = tokio::time::timeout(timeout, publisher.publish(&records))
        .instrument(tracing::info_span!(
            "broker.publish",
            events = records.len()
        ))
        .await
        .map_err(|_| PublishError::TimedOut(timeout));
    let outcome = match &published {
        Ok(Ok(())) => "ok",
        Ok(Err(_)) => "error",
        Err(_) => "timeout",
    };
    service_metrics::broker_call(outcome, started.elapsed());
    published??;
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    outbox.remove(&ids).await.map_err(DeliveryError::Remove)
}

/// After a failed publish, the booking path stops trying for a while and leaves events to the
/// relay, so a dead broker costs each booking nothing instead of a full timeout. When the
/// cool-down ends, one booking probes the broker (half-open) while the others keep skipping:
/// a still-dead broker then costs one timeout per cool-down, not one per concurrent booking.
#[derive(Debug)]
pub struct PublishBreaker {
    cool_down: Duration,
    /// 0 while closed (publish); otherwise the instant (ms) until which bookings skip.
    open_until_ms: AtomicU64,
}

impl PublishBreaker {
    pub fn new(cool_down: Duration) -> Self {
        Self {
            cool_down,
            open_until_ms: AtomicU64::new(0),
        }
    }

    /// Whether this caller should publish: always while closed; once the cool-down ended, only
    /// the one caller that claims the probe.
    pub fn allows(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        let now = now_ms();
        now >= until
            && self
                .open_until_ms
                .compare_exchange(
                    until,
                    self.reopen_at(now),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    pub fn succeeded(&self) {
        self.open_until_ms.store(0, Ordering::Relaxed);
    }

    pub fn trip(&self) {
        self.open_until_ms
            .store(self.reopen_at(now_ms()), Ordering::Relaxed);
    }

    fn reopen_at(&self, now: u64) -> u64 {
        // max(1): a zero cool-down must still read as open, not as closed.
        now.saturating_add(u64::try_from(self.cool_down.as_millis()).unwrap_or(u64::MAX))
            .max(1)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Debug, Clone, Copy)]
pub struct RelaySettings {
    pub batch_size: usize,
    /// Entries younger than this are left to the booking that wrote them, which publishes
    /// them itself: fewer duplicates in normal operation.
    pub min_age: Duration,
    /// At most this many batches per run, so a run ends well within its Lambda timeout.
    pub max_batches: usize,
    pub publish_timeout: Duration,
    /// Longer than a run can last; a crashed relay's lease expires by itself.
    pub lease_ttl: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 200,
            min_age: Duration::from_secs(10),
            max_batches: 100,
            publish_timeout: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(120),
        }
    }
}

/// The relay function's reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayReport {
    pub published: u64,
    /// Outbox depth after the run.
    pub remaining: u64,
    /// True when another relay held the lease, so this run did nothing.
    pub skipped: bool,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RelayError {
    #[error("relay stopped after publishing {published} events: {source}")]
    Delivery {
        published: u64,
        source: DeliveryError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct OutboxRelay<O, P> {
    outbox: O,
    publisher: P,
    settings: RelaySettings,
}

impl<O: Outbox, P: EventPublisher> OutboxRelay<O, P> {
    pub fn new(outbox: O, publisher: P, settings: RelaySettings) -> Self {
        Self {
            outbox,
            publisher,
            settings,
        }
    }

    /// Publishes what waits in the outbox, oldest first. One relay at a time holds the lease;
    /// two relays could only ever publish an event twice under the same event id.
    pub async fn run(&self) -> Result<RelayReport, RelayError> {
        let Some(lease) = self
            .outbox
            .acquire_relay_lease(self.settings.lease_ttl)
            .await?
        else {
            let remaining = self.outbox.depth().await?;
            service_metrics::relay_run(0, remaining);
            return Ok(RelayReport {
                remaining,
                skipped: true,
                ..RelayReport::default()
            });
        };
        let drained = self.drain().await;
        if let Err(error) = self.outbox.release_relay_lease(&lease).await {
            tracing::warn!(%error, "relay lease not released; it expires by itself");
        }
        let published = drained?;
        let remaining = self.outbox.depth().await?;
        service_metrics::relay_run(published, remaining);
        Ok(RelayReport {
            published,
            remaining,
            skipped: false,
        })
    }

    async fn drain(&self) -> Result<u64, RelayError> {
        let mut published = 0;
        for _ in 0..self.settings.max_batches {
            let entries = self
                .outbox
                .oldest(self.settings.batch_size, self.settings.min_age)
                .await?;
            deliver(
                &self.outbox,
                &self.publisher,
                &entries,
                self.settings.publish_timeout,
            )
            .await
            .map_err(|source| RelayError::Delivery { published, source })?;
            published += entries.len() as u64;
            if entries.len() < self.settings.batch_size {
                break;
            }
        }
        Ok(published)
    }
}

#[cfg(test)]
mod tests {
    use mockall::Sequence;

    use super::*;
    use crate::ports::{MockEventPublisher, MockOutbox};

    fn entry(n: u32) -> OutboxEntry {
        OutboxEntry {
            id: format!("{n}-0"),
            record: EventRecord {
                key: format!("P{n}"),
                payload: format!("{{\"eventId\":\"e{n}\"}}"),
            },
        }
    }

    fn settings(batch_size: usize) -> RelaySettings {
        RelaySettings {
            batch_size,
            min_age: Duration::ZERO,
            max_batches: 10,
            publish_timeout: Duration::from_millis(200),
            lease_ttl: Duration::from_secs(60),
        }
    }

    fn leased_outbox() -> MockOutbox {
        let mut outbox = MockOutbox::new();
        outbox
            .expect_acquire_relay_lease()
            .times(1)
            .returning(|_| Ok(Some("lease".into())));
        outbox
            .expect_release_relay_lease()
            .withf(|token| token == "lease")
            .times(1)
            .returning(|_| Ok(()));
        outbox
    }

    #[tokio::test]
    async fn delivery_rules() {
        type Case = (
            &'static str,
            Result<(), PublishError>,
            bool,
            Result<(), DeliveryError>,
        );
        let down = PublishError::Unavailable("refused".into());
        let cases: Vec<Case> = vec![
            (
                "an acknowledged event leaves the outbox",
                Ok(()),
                true,
                Ok(()),
            ),
            (
                "a failed publish keeps the event",
                Err(down.clone()),
                false,
                Err(DeliveryError::Publish(down.clone())),
            ),
        ];
        for (name, reply, removed, expected) in cases {
            let mut publisher = MockEventPublisher::new();
            publisher
                .expect_publish()
                .withf(|records| records.len() == 2 && records[0].key == "P1")
                .times(1)
                .return_once(move |_| reply);
            let mut outbox = MockOutbox::new();
            outbox
                .expect_remove()
                .withf(|ids| ids == ["1-0", "2-0"])
                .times(usize::from(removed))
                .returning(|_| Ok(()));
            let got = deliver(
                &outbox,
                &publisher,
                &[entry(1), entry(2)],
                Duration::from_secs(1),
            )
            .await;
            assert_eq!(got, expected, "{name}");
        }
    }

    #[tokio::test]
    async fn a_slow_broker_times_out_and_keeps_the_event() {
        struct Hanging;
        #[async_trait::async_trait]
        impl EventPublisher for Hanging {
            async fn publish(&self, _: &[EventRecord]) -> Result<(), PublishError> {
                std::future::pending().await
            }
        }
        let outbox = MockOutbox::new(); // remove() must not be called
        let got = deliver(&outbox, &Hanging, &[entry(1)], Duration::from_millis(50)).await;
        assert_eq!(
            got,
            Err(DeliveryError::Publish(PublishError::TimedOut(
                Duration::from_millis(50)
            )))
        );
    }

    #[tokio::test]
    async fn the_relay_drains_oldest_first_in_batches() {
        let mut outbox = leased_outbox();
        let mut seq = Sequence::new();
        outbox
            .expect_oldest()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(vec![entry(1), entry(2)]));
        outbox
            .expect_remove()
            .withf(|ids| ids == ["1-0", "2-0"])
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        outbox
            .expect_oldest()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(vec![entry(3)]));
        outbox
            .expect_remove()
            .withf(|ids| ids == ["3-0"])
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        outbox.expect_depth().returning(|| Ok(0));
        let mut publisher = MockEventPublisher::new();
        publisher.expect_publish().times(2).returning(|_| Ok(()));

        let report = OutboxRelay::new(outbox, publisher, settings(2))
            .run()
            .await
            .unwrap();

        assert_eq!(
            report,
            RelayReport {
                published: 3,
                remaining: 0,
                skipped: false
            }
        );
    }

    #[tokio::test]
    async fn a_broker_failure_stops_the_relay_and_keeps_the_rest() {
        let mut outbox = leased_outbox();
        outbox
            .expect_oldest()
            .times(1)
            .returning(|_, _| Ok(vec![entry(1)]));
        outbox.expect_remove().never();
        let mut publisher = MockEventPublisher::new();
        publisher
            .expect_publish()
            .returning(|_| Err(PublishError::Unavailable("down".into())));

        let got = OutboxRelay::new(outbox, publisher, settings(1)).run().await;

        assert_eq!(
            got,
            Err(RelayError::Delivery {
                published: 0,
                source: DeliveryError::Publish(PublishError::Unavailable("down".into())),
            })
        );
    }

    #[tokio::test]
    async fn a_second_relay_waits_for_the_lease() {
        let mut outbox = MockOutbox::new();
        outbox.expect_acquire_relay_lease().returning(|_| Ok(None));
        outbox.expect_oldest().never();
        outbox.expect_depth().returning(|| Ok(7));

        let report = OutboxRelay::new(outbox, MockEventPublisher::new(), settings(5))
            .run()
            .await
            .unwrap();

        assert_eq!(
            report,
            RelayReport {
                published: 0,
                remaining: 7,
                skipped: true
            }
        );
    }

    #[test]
    fn the_breaker_skips_during_its_cool_down_then_lets_one_probe_through() {
        let breaker = PublishBreaker::new(Duration::from_secs(60));
        assert!(
            breaker.allows() && breaker.allows(),
            "closed: everyone publishes"
        );
        breaker.trip();
        assert!(!breaker.allows(), "open: bookings skip");

        let probing = PublishBreaker::new(Duration::ZERO);
        probing.trip();
        std::thread::sleep(Duration::from_millis(2));
        assert!(probing.allows(), "cool-down over: one probe");
        let short = PublishBreaker::new(Duration::from_millis(50));
        short.trip();
        std::thread::sleep(Duration::from_millis(60));
        assert!(short.allows(), "the first caller probes");
        assert!(!short.allows(), "the others keep skipping while it probes");
        short.succeeded();
        assert!(short.allows() && short.allows(), "a good probe closes it");
    }
}
