//! Use case: get every outbox event to the broker. A broker outage delays events; it never
//! loses one, and never fails the booking that produced it.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

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
    /// At most this many batches per run.
    pub max_batches: usize,
    pub publish_timeout: Duration,
    /// Longer than a batch can last; renewed before each batch, so a crashed relay's lease
    /// expires by itself soon after.
    pub lease_ttl: Duration,
    /// A batch starts only while `publish_timeout` plus this margin (its Redis round trips,
    /// releasing the lease, the reply) is left before the invocation's deadline: a run killed
    /// mid-batch would publish again what it had already published and keep the lease.
    pub deadline_margin: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 200,
            min_age: Duration::from_secs(10),
            max_batches: 100,
            publish_timeout: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(120),
            deadline_margin: Duration::from_secs(5),
        }
    }
}

/// The time left until a Lambda invocation's deadline (`Context::deadline`, milliseconds since
/// the Unix epoch). None when it is not in the future, which Lambda never sends but emulators
/// do (`cargo lambda watch` sends its timeout, 600000, as if it were a time).
pub fn time_left(deadline_epoch_ms: u64, now: SystemTime) -> Option<Duration> {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    (deadline_epoch_ms > now_ms).then(|| Duration::from_millis(deadline_epoch_ms - now_ms))
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
    /// True when the run stopped early to finish before its deadline; the next run goes on.
    pub deadline_reached: bool,
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
    /// The run outlived its lease; it stopped so as not to run beside the relay that may hold
    /// the lease now.
    #[error("relay lost its lease after publishing {published} events")]
    LeaseLost { published: u64 },
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

    /// A run with no deadline but `max_batches` (tools, tests).
    pub async fn run(&self) -> Result<RelayReport, RelayError> {
        self.run_until(None).await
    }

    /// Publishes what waits in the outbox, oldest first, starting no batch that might not end
    /// before `deadline`. One relay at a time holds the lease; two relays could only ever
    /// publish an event twice under the same event id. Every run records the outbox depth,
    /// and a failed run also counts as a relay failure: a broker outage is exactly when
    /// operators need both.
    pub async fn run_until(&self, deadline: Option<Instant>) -> Result<RelayReport, RelayError> {
        let mut published = 0;
        let drained = self.drain_leased(deadline, &mut published).await;
        let depth = self.outbox.depth().await;
        service_metrics::relay_run(published, depth.as_ref().ok().copied());
        if let Err(error) = &drained {
            service_metrics::relay_failed();
            tracing::error!(%error, published, "relay run failed");
        }
        let drained = drained?;
        Ok(RelayReport {
            published,
            remaining: depth?,
            skipped: drained.is_none(),
            deadline_reached: drained == Some(true),
        })
    }

    /// None when another relay holds the lease, else whether the deadline stopped the drain.
    async fn drain_leased(
        &self,
        deadline: Option<Instant>,
        published: &mut u64,
    ) -> Result<Option<bool>, RelayError> {
        let Some(lease) = self
            .outbox
            .acquire_relay_lease(self.settings.lease_ttl)
            .await?
        else {
            return Ok(None);
        };
        let drained = self.drain(&lease, deadline, published).await;
        // A lost lease may be another relay's now; the release script leaves it alone.
        if let Err(error) = self.outbox.release_relay_lease(&lease).await {
            tracing::warn!(%error, "relay lease not released; it expires by itself");
        }
        drained.map(Some)
    }

    /// Whether the deadline stopped it.
    async fn drain(
        &self,
        lease: &str,
        deadline: Option<Instant>,
        published: &mut u64,
    ) -> Result<bool, RelayError> {
        let needed = self.settings.publish_timeout + self.settings.deadline_margin;
        for _ in 0..self.settings.max_batches {
            if deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()) < needed) {
                return Ok(true);
            }
            if !self
                .outbox
                .renew_relay_lease(lease, self.settings.lease_ttl)
                .await?
            {
                return Err(RelayError::LeaseLost {
                    published: *published,
                });
            }
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
            .map_err(|source| RelayError::Delivery {
                published: *published,
                source,
            })?;
            *published += entries.len() as u64;
            if entries.len() < self.settings.batch_size {
                break;
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

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
            deadline_margin: Duration::from_millis(100),
        }
    }

    fn leased_outbox() -> MockOutbox {
        let mut outbox = MockOutbox::new();
        outbox
            .expect_acquire_relay_lease()
            .times(1)
            .returning(|_| Ok(Some("lease".into())));
        outbox
            .expect_renew_relay_lease()
            .withf(|token, _| token == "lease")
            .returning(|_, _| Ok(true));
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
                skipped: false,
                deadline_reached: false,
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
        outbox.expect_depth().returning(|| Ok(1));
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
                skipped: true,
                deadline_reached: false,
            }
        );
    }

    /// An outbox that always has a full batch of one and never runs dry.
    fn endless_outbox() -> MockOutbox {
        let mut outbox = leased_outbox();
        outbox.expect_oldest().returning(|_, _| Ok(vec![entry(1)]));
        outbox.expect_remove().returning(|_| Ok(()));
        outbox.expect_depth().returning(|| Ok(1));
        outbox
    }

    /// A broker that takes `delay` (of paused tokio time) to acknowledge.
    struct SlowBroker {
        delay: Duration,
    }

    #[async_trait::async_trait]
    impl EventPublisher for SlowBroker {
        async fn publish(&self, _: &[EventRecord]) -> Result<(), PublishError> {
            tokio::time::sleep(self.delay).await;
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_relay_starts_no_batch_it_could_not_finish_before_the_deadline() {
        let settings = RelaySettings {
            batch_size: 1,
            max_batches: 1000,
            publish_timeout: Duration::from_secs(5),
            deadline_margin: Duration::from_secs(1),
            ..settings(1)
        };
        // (publish takes s, deadline in s, batches that fit: each starts with >= 6 s left)
        for (delay, deadline_in, batches) in [(4, 20, 4), (5, 60, 11), (1, 7, 2), (3, 5, 0)] {
            let deadline = Instant::now() + Duration::from_secs(deadline_in);
            let relay = OutboxRelay::new(
                endless_outbox(), // its lease must be released (leased_outbox checks)
                SlowBroker {
                    delay: Duration::from_secs(delay),
                },
                settings,
            );

            let report = relay.run_until(Some(deadline)).await.unwrap();

            let case = format!("publish {delay}s, deadline in {deadline_in}s");
            assert!(Instant::now() <= deadline, "{case}: ran past the deadline");
            assert!(report.deadline_reached, "{case}: {report:?}");
            assert_eq!(report.published, batches, "{case}");
        }
    }

    #[tokio::test]
    async fn a_relay_that_lost_its_lease_stops_before_the_next_batch() {
        let mut outbox = MockOutbox::new();
        outbox
            .expect_acquire_relay_lease()
            .returning(|_| Ok(Some("lease".into())));
        let mut renewals = Sequence::new();
        outbox
            .expect_renew_relay_lease()
            .times(1)
            .in_sequence(&mut renewals)
            .returning(|_, _| Ok(true));
        outbox
            .expect_renew_relay_lease()
            .times(1)
            .in_sequence(&mut renewals)
            .returning(|_, _| Ok(false));
        outbox
            .expect_oldest()
            .times(1)
            .returning(|_, _| Ok(vec![entry(1)]));
        outbox.expect_remove().times(1).returning(|_| Ok(()));
        outbox.expect_depth().returning(|| Ok(4));
        outbox
            .expect_release_relay_lease()
            .times(1)
            .returning(|_| Ok(()));
        let mut publisher = MockEventPublisher::new();
        publisher.expect_publish().times(1).returning(|_| Ok(()));

        let got = OutboxRelay::new(outbox, publisher, settings(1)).run().await;

        assert_eq!(got, Err(RelayError::LeaseLost { published: 1 }));
    }

    /// Counters and gauges by name, for the metrics a use case records.
    #[derive(Default, Clone)]
    struct Recorded(Arc<Mutex<HashMap<String, f64>>>);

    struct Handle(Recorded, String);

    impl metrics::CounterFn for Handle {
        fn increment(&self, value: u64) {
            *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += value as f64;
        }
        fn absolute(&self, value: u64) {
            self.0
                .0
                .lock()
                .unwrap()
                .insert(self.1.clone(), value as f64);
        }
    }

    impl metrics::GaugeFn for Handle {
        fn increment(&self, value: f64) {
            *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += value;
        }
        fn decrement(&self, value: f64) {
            *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() -= value;
        }
        fn set(&self, value: f64) {
            self.0.0.lock().unwrap().insert(self.1.clone(), value);
        }
    }

    impl metrics::Recorder for Recorded {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            metrics::Counter::from_arc(Arc::new(Handle(self.clone(), key.name().to_owned())))
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::from_arc(Arc::new(Handle(self.clone(), key.name().to_owned())))
        }
        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    impl Recorded {
        fn get(&self, name: &str) -> Option<f64> {
            self.0.lock().unwrap().get(name).copied()
        }
    }

    #[tokio::test] // current-thread: the local recorder sees every metric of the run
    async fn every_run_records_the_depth_and_a_failed_run_counts_as_a_failure() {
        type Case = (&'static str, Result<(), PublishError>, Option<f64>);
        let cases: [Case; 2] = [
            ("a good run", Ok(()), None),
            (
                "a broker outage",
                Err(PublishError::Unavailable("refused".into())),
                Some(1.0),
            ),
        ];
        for (name, reply, failures) in cases {
            let recorded = Recorded::default();
            let _guard = metrics::set_default_local_recorder(&recorded);
            let mut outbox = leased_outbox();
            outbox
                .expect_oldest()
                .returning(|_, _| Ok(vec![entry(1), entry(2)]));
            outbox.expect_remove().returning(|_| Ok(()));
            let depth: u32 = if reply.is_ok() { 0 } else { 2 };
            outbox.expect_depth().returning(move || Ok(depth.into()));
            let mut publisher = MockEventPublisher::new();
            publisher.expect_publish().return_once(move |_| reply);

            let ran = OutboxRelay::new(outbox, publisher, settings(5)).run().await;

            assert_eq!(ran.is_ok(), failures.is_none(), "{name}");
            assert_eq!(
                recorded.get(service_metrics::OUTBOX_DEPTH),
                Some(f64::from(depth)),
                "{name}"
            );
            assert_eq!(
                recorded.get(service_metrics::RELAY_FAILURES),
                failures,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn a_store_outage_counts_as_a_relay_failure_without_a_made_up_depth() {
        let recorded = Recorded::default();
        let _guard = metrics::set_default_local_recorder(&recorded);
        let down = || StoreError::Unavailable("refused".into());
        let mut outbox = MockOutbox::new();
        outbox
            .expect_acquire_relay_lease()
            .returning(move |_| Err(down()));
        outbox.expect_depth().returning(move || Err(down()));

        let ran = OutboxRelay::new(outbox, MockEventPublisher::new(), settings(5))
            .run()
            .await;

        assert_eq!(ran, Err(RelayError::Store(down())));
        assert_eq!(recorded.get(service_metrics::RELAY_FAILURES), Some(1.0));
        assert_eq!(recorded.get(service_metrics::OUTBOX_DEPTH), None);
    }

    #[test]
    fn time_left_counts_down_to_the_invocation_deadline() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000);
        assert_eq!(time_left(1_060_000, now), Some(Duration::from_secs(60)));
        assert_eq!(
            time_left(999_000, now),
            None,
            "not a deadline an invocation can have"
        );
        assert_eq!(time_left(600_000, now), None);
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
