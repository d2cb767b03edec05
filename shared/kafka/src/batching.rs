//! Batch publishing for long-lived processes (local-api): concurrent bookings' events share
//! produce requests, as Kafka producers batch, instead of one request per booking.
//!
//! Each caller still waits for its own batch: `publish` returns Ok only once the broker
//! acknowledged every record of the batch its records went out in, and the batch's error
//! otherwise, so a failed batch leaves every one of its events in the outbox for the relay. A
//! Lambda invocation serves one request, so functions publish through [`super::KafkaPublisher`]
//! directly.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::config::KafkaBatchConfig;
use booking_core::domain::EventRecord;
use booking_core::ports::{EventPublisher, PublishError};

/// Batches on their way to the broker at once. More lets a slow acknowledgement overlap the
/// next batch; fewer makes batches larger. Kafka's own producer allows five per connection.
const BATCHES_IN_FLIGHT: usize = 4;

/// One caller's records and where its batch's outcome goes.
struct Pending {
    records: Vec<EventRecord>,
    reply: oneshot::Sender<Result<(), PublishError>>,
}

/// An [`EventPublisher`] that gathers concurrent calls for at most `linger` (or until
/// `max_records` are waiting) and publishes them through `inner` in one call, which makes one
/// produce request per partition. With `max_records` 1 it calls `inner` directly.
pub struct BatchingPublisher<P> {
    inner: Arc<P>,
    /// None when batching is off.
    queue: Option<mpsc::Sender<Pending>>,
}

impl<P: EventPublisher + 'static> BatchingPublisher<P> {
    /// `timeout` bounds each batch's publish: a batch that hangs is abandoned (its callers get
    /// the error, and a Kafka publisher drops the connection) instead of holding its slot.
    /// Batching spawns its task on the current Tokio runtime.
    pub fn new(inner: P, config: &KafkaBatchConfig, timeout: Duration) -> Self {
        let inner = Arc::new(inner);
        if config.max_records <= 1 {
            return Self { inner, queue: None };
        }
        // Room for every batch in flight and the next few: beyond it callers wait (bounded by
        // their own timeout) rather than the queue growing without limit.
        let (queue, pending) = mpsc::channel(config.max_records * (BATCHES_IN_FLIGHT + 2));
        tokio::spawn(run_batches(
            Arc::clone(&inner),
            pending,
            config.clone(),
            timeout,
        ));
        Self {
            inner,
            queue: Some(queue),
        }
    }

    pub fn batching(&self) -> bool {
        self.queue.is_some()
    }
}

/// Takes batches off the queue, at most [`BATCHES_IN_FLIGHT`] at a time; ends when every
/// sender is gone.
async fn run_batches<P: EventPublisher + 'static>(
    inner: Arc<P>,
    mut queue: mpsc::Receiver<Pending>,
    config: KafkaBatchConfig,
    timeout: Duration,
) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let mut carried: Option<Pending> = None;
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(pending) => pending,
            None => match queue.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        let (batch, over) = gather(first, &mut queue, &config).await;
        carried = over;
        let inner = Arc::clone(&inner);
        tokio::spawn(async move {
            publish_batch(inner.as_ref(), batch, timeout).await;
            drop(slot);
        });
    }
}

/// `first` and what else arrives within the linger, up to `max_records` records. A caller whose
/// records would pass the bound comes back as the second value, to start the next batch (a
/// single caller with more than the bound goes alone).
async fn gather(
    first: Pending,
    queue: &mut mpsc::Receiver<Pending>,
    config: &KafkaBatchConfig,
) -> (Vec<Pending>, Option<Pending>) {
    let deadline = Instant::now() + config.linger;
    let mut records = first.records.len();
    let mut batch = vec![first];
    while records < config.max_records {
        let next = match queue.try_recv() {
            Ok(pending) => pending,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(pending)) => pending,
                    Ok(None) | Err(_) => break,
                }
            }
        };
        if records + next.records.len() > config.max_records {
            return (batch, Some(next));
        }
        records += next.records.len();
        batch.push(next);
    }
    (batch, None)
}

/// One publish of every caller's records, in arrival order (so a person's events keep their
/// order), and its outcome to each caller.
async fn publish_batch<P: EventPublisher>(inner: &P, batch: Vec<Pending>, timeout: Duration) {
    let records: Vec<EventRecord> = batch
        .iter()
        .flat_map(|pending| pending.records.iter().cloned())
        .collect();
    let outcome = tokio::time::timeout(timeout, inner.publish(&records))
        .await
        .unwrap_or(Err(PublishError::TimedOut(timeout)));
    for pending in batch {
        // A caller that stopped waiting (its own timeout) left its event in the outbox.
        let _ = pending.reply.send(outcome.clone());
    }
}

#[async_trait]
impl<P: EventPublisher + 'static> EventPublisher for BatchingPublisher<P> {
    async fn publish(&self, records: &[EventRecord]) -> Result<(), PublishError> {
        let Some(queue) = &self.queue else {
            return self.inner.publish(records).await;
        };
        if records.is_empty() {
            return Ok(());
        }
        let (reply, outcome) = oneshot::channel();
        let pending = Pending {
            records: records.to_vec(),
            reply,
        };
        let stopped = || PublishError::Unavailable("the batch publisher stopped".into());
        queue.send(pending).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use super::*;

    /// Records each call's keys; fails every call that carries `failing_key`.
    struct RecordingBroker {
        calls: Mutex<Vec<Vec<String>>>,
        failing_key: &'static str,
    }

    #[async_trait]
    impl EventPublisher for RecordingBroker {
        async fn publish(&self, records: &[EventRecord]) -> Result<(), PublishError> {
            let keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
            let fails = keys.iter().any(|key| key == self.failing_key);
            self.calls.lock().unwrap().push(keys);
            tokio::time::sleep(Duration::from_millis(5)).await;
            if fails {
                Err(PublishError::Unavailable("partition leader gone".into()))
            } else {
                Ok(())
            }
        }
    }

    fn broker(failing_key: &'static str) -> Arc<RecordingBroker> {
        Arc::new(RecordingBroker {
            calls: Mutex::new(Vec::new()),
            failing_key,
        })
    }

    fn record(key: &str) -> Vec<EventRecord> {
        vec![EventRecord {
            key: key.into(),
            payload: format!("{{\"eventId\":\"{key}\"}}"),
        }]
    }

    fn config(linger_ms: u64, max_records: usize) -> KafkaBatchConfig {
        KafkaBatchConfig {
            linger: Duration::from_millis(linger_ms),
            max_records,
        }
    }

    async fn send_all(
        publisher: &BatchingPublisher<Arc<RecordingBroker>>,
        keys: &[String],
    ) -> Vec<Result<(), PublishError>> {
        futures::future::join_all(
            keys.iter()
                .map(|key| async move { publisher.publish(&record(key)).await }),
        )
        .await
    }

    #[tokio::test]
    async fn concurrent_sends_share_calls_and_each_caller_gets_its_own_batchs_outcome() {
        let broker = broker("P13");
        let publisher =
            BatchingPublisher::new(Arc::clone(&broker), &config(50, 8), Duration::from_secs(5));
        assert!(publisher.batching());
        let keys: Vec<String> = (0..40).map(|i| format!("P{i}")).collect();

        let outcomes = send_all(&publisher, &keys).await;

        let calls = broker.calls.lock().unwrap().clone();
        assert!(calls.len() < keys.len(), "batched: {} calls", calls.len());
        assert!(
            calls.iter().all(|call| call.len() <= 8),
            "bounded: {calls:?}"
        );
        let sent: Vec<&String> = calls.iter().flatten().collect();
        assert_eq!(sent.len(), keys.len(), "each record sent exactly once");
        assert_eq!(sent.iter().collect::<HashSet<_>>().len(), keys.len());
        let failed_batch: HashSet<&String> = calls
            .iter()
            .find(|call| call.iter().any(|key| key == "P13"))
            .unwrap()
            .iter()
            .collect();
        assert!(failed_batch.len() > 1, "the failing batch had others too");
        for (key, outcome) in keys.iter().zip(&outcomes) {
            assert_eq!(
                outcome.is_err(),
                failed_batch.contains(key),
                "{key} got its own batch's outcome: {outcome:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_lone_send_goes_out_after_the_linger() {
        let broker = broker("none");
        let publisher =
            BatchingPublisher::new(Arc::clone(&broker), &config(1, 64), Duration::from_secs(5));
        publisher.publish(&record("A")).await.unwrap();
        publisher.publish(&record("B")).await.unwrap();
        assert_eq!(*broker.calls.lock().unwrap(), [vec!["A"], vec!["B"]]);
    }

    #[tokio::test]
    async fn a_batch_that_hangs_fails_its_callers_within_the_timeout() {
        struct Hanging;
        #[async_trait]
        impl EventPublisher for Hanging {
            async fn publish(&self, _: &[EventRecord]) -> Result<(), PublishError> {
                std::future::pending().await
            }
        }
        let publisher = BatchingPublisher::new(Hanging, &config(1, 8), Duration::from_millis(50));
        let outcome = tokio::time::timeout(Duration::from_secs(5), publisher.publish(&record("A")))
            .await
            .expect("answered");
        assert!(matches!(outcome, Err(PublishError::TimedOut(_))));
    }

    #[tokio::test]
    async fn a_batch_of_one_publishes_each_call_directly() {
        let broker = broker("P1");
        let publisher =
            BatchingPublisher::new(Arc::clone(&broker), &config(50, 1), Duration::from_secs(5));
        assert!(!publisher.batching());
        let keys: Vec<String> = (0..4).map(|i| format!("P{i}")).collect();
        let outcomes = send_all(&publisher, &keys).await;
        assert_eq!(broker.calls.lock().unwrap().len(), 4);
        let failed: Vec<bool> = outcomes.iter().map(Result::is_err).collect();
        assert_eq!(failed, [false, true, false, false]);
    }
}
