//! Batched publishing, as local-api runs it, against a real broker (tansu) and a real Redis:
//! concurrent bookings share produce requests; each answers only once its own event was
//! acknowledged or is in the outbox for the relay; a failed batch leaves all its events there.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lambda_http::http::{Method, StatusCode};

use booking_core::booking::{BookingService, PublishSettings};
use booking_core::domain::EventRecord;
use booking_core::outbox::{OutboxRelay, RelaySettings};
use booking_core::ports::{EventPublisher, Outbox, PublishError};
use booking_kafka::config::KafkaBatchConfig;
use booking_kafka::{BatchingPublisher, KafkaPublisher};
use booking_redis::RedisStore;

use crate::helpers::person_id;
use crate::helpers::{
    AppOptions, RedisMode, TestApp, TestResponse, booking_json, create_topic, outbox_key_of,
    publisher, read_topic, request, spawn_app_with, test_references,
};

/// What the broker was asked (the people in each call) and whose events it acknowledged.
#[derive(Default)]
struct Calls {
    attempted: Vec<Vec<String>>,
    acknowledged: HashSet<String>,
    /// Calls that returned, or were dropped by the batch's timeout.
    finished: usize,
}

impl Calls {
    /// Whether every one of `events` went out in a call, and every call is over: the broker
    /// will not be asked anything more.
    fn settled(&self, events: usize) -> bool {
        self.finished == self.attempted.len()
            && self.attempted.iter().map(Vec::len).sum::<usize>() == events
    }

    /// Calls that failed or were abandoned (timed out) before the broker acknowledged them.
    fn failed(&self) -> Vec<Vec<String>> {
        self.attempted
            .iter()
            .filter(|keys| !keys.iter().all(|key| self.acknowledged.contains(key)))
            .cloned()
            .collect()
    }
}

/// Opens once every booking of a run has handed its event to the publisher. Until then the
/// broker is not called: the first batches wait as they do behind a broker slower than the
/// bookings arrive, and everyone else queues for the next batch. So batches of several events
/// form, and fail, for certain, not by how the scheduler happened to interleave the bookings.
struct Gate {
    handed_over: AtomicUsize,
    bookings: usize,
    open: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    fn new(bookings: usize) -> Arc<Self> {
        Arc::new(Self {
            handed_over: AtomicUsize::new(0),
            bookings,
            open: tokio::sync::watch::channel(false).0,
        })
    }

    async fn passed(&self) {
        let mut open = self.open.subscribe();
        open.wait_for(|open| *open).await.expect("the gate lives");
    }
}

/// Counts the events handed to the batching publisher, opening the gate at the last.
struct Counted<P> {
    inner: P,
    gate: Arc<Gate>,
}

#[async_trait]
impl<P: EventPublisher> EventPublisher for Counted<P> {
    async fn publish(&self, records: &[EventRecord]) -> Result<(), PublishError> {
        if self.gate.handed_over.fetch_add(1, Ordering::SeqCst) + 1 == self.gate.bookings {
            self.gate.open.send_replace(true);
        }
        self.inner.publish(records).await
    }
}

/// The real Kafka publisher behind the gate, with every call it makes recorded.
struct Recorded {
    inner: KafkaPublisher,
    calls: Arc<Mutex<Calls>>,
    gate: Arc<Gate>,
}

/// Counts a call as finished however it ends.
struct Finishing<'a>(&'a Mutex<Calls>);

impl Drop for Finishing<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap().finished += 1;
    }
}

#[async_trait]
impl EventPublisher for Recorded {
    async fn publish(&self, records: &[EventRecord]) -> Result<(), PublishError> {
        let keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
        self.calls.lock().unwrap().attempted.push(keys.clone());
        let _finishing = Finishing(&self.calls);
        self.gate.passed().await;
        let outcome = self.inner.publish(records).await;
        if outcome.is_ok() {
            self.calls.lock().unwrap().acknowledged.extend(keys);
        }
        outcome
    }
}

type BatchedBookings = BookingService<RedisStore, RedisStore, Counted<BatchingPublisher<Recorded>>>;

/// What a booking may wait for its event: behind the gate, for every other booking of the run
/// (under 1 ms each in a debug build; 20 ms allowed), then the broker.
fn publish_timeout(bookings: usize) -> Duration {
    Duration::from_secs(5) + Duration::from_millis(20) * u32::try_from(bookings).unwrap()
}

/// The app for `bookings` people booking at once: its Redis timeouts sized for them.
async fn spawn_rush(bookings: usize) -> TestApp {
    spawn_app_with(AppOptions::on(RedisMode::Single).concurrent(bookings)).await
}

fn batched_bookings(
    app: &TestApp,
    batch: &KafkaBatchConfig,
    bookings: usize,
) -> (BatchedBookings, Arc<Mutex<Calls>>) {
    let calls = Arc::new(Mutex::new(Calls::default()));
    let gate = Gate::new(bookings);
    let settings = PublishSettings {
        timeout: publish_timeout(bookings),
        cool_down: Duration::from_millis(200),
    };
    let recorded = Recorded {
        inner: publisher(&app.broker),
        calls: Arc::clone(&calls),
        gate: Arc::clone(&gate),
    };
    let batching = BatchingPublisher::new(recorded, batch, settings.timeout);
    assert!(batching.batching());
    let publisher = Counted {
        inner: batching,
        gate,
    };
    let bookings = BookingService::new(
        app.store.clone(),
        app.store.clone(),
        publisher,
        settings,
        test_references(),
    );
    (bookings, calls)
}

/// Whether the person's event waits in their outbox stream: one read of the one stream their
/// events go to. (Reading every stream for each of hundreds of concurrent bookings queued
/// 77,000 reads on the shared connection, which then timed out.)
async fn in_own_outbox(app: &TestApp, id: &str) -> bool {
    let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg(outbox_key_of(id))
        .arg("-")
        .arg("+")
        .query_async(&mut app.connection.clone())
        .await
        .unwrap();
    entries
        .iter()
        .any(|(_, fields)| fields.get("key").map(String::as_str) == Some(id))
}

/// Every event in the outbox, by its key: read once, after the bookings.
async fn keys_in_outbox(store: &RedisStore) -> HashSet<String> {
    store
        .oldest(10_000, Duration::ZERO)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.record.key)
        .collect()
}

/// Books every id at once; for each 201, checks the moment it answered that its event had been
/// acknowledged or was in the outbox. Returns the ids that got a 201.
async fn book_concurrently(
    app: &TestApp,
    bookings: &BatchedBookings,
    calls: &Mutex<Calls>,
    ids: &[String],
) -> Vec<String> {
    // The gate and the broker, then Redis: what a booking may wait for, with room to spare.
    let answer_within = 2 * publish_timeout(ids.len());
    let answers = futures::future::join_all(ids.iter().map(|id| async move {
        let body = booking_json(id, "PWTC", "20210516");
        let response: TestResponse = tokio::time::timeout(
            answer_within,
            booking_http::create_booking(bookings, request(Method::POST, "/booking", body)),
        )
        .await
        .expect("the booking answers")
        .into();
        let acknowledged = calls.lock().unwrap().acknowledged.contains(id);
        let handed_to_relay = acknowledged || in_own_outbox(app, id).await;
        (id.clone(), response.status, handed_to_relay)
    }))
    .await;
    let mut created = Vec::new();
    for (id, status, accounted) in answers {
        assert_eq!(status, StatusCode::CREATED, "{id}");
        assert!(
            accounted,
            "{id} answered before its event was acknowledged or in the outbox"
        );
        created.push(id);
    }
    created
}

fn people(first: usize, count: usize) -> Vec<String> {
    (first..first + count).map(person_id).collect()
}

fn event_ids(records: &[crate::helpers::Published]) -> HashSet<String> {
    records
        .iter()
        .map(|r| r.value["eventId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bookings_share_produce_requests_and_every_event_is_published_once() {
    const PEOPLE: usize = 300;
    let app = spawn_rush(PEOPLE).await;
    app.seed(1, &[("PWTC", 1000)]).await;
    // local-api's defaults.
    let (bookings, calls) = batched_bookings(&app, &KafkaBatchConfig::default(), PEOPLE);
    let ids = people(0, PEOPLE);

    let created = book_concurrently(&app, &bookings, &calls, &ids).await;

    let records = read_topic(&app.broker, created.len()).await;
    assert_eq!(records.len(), created.len(), "every event published once");
    assert_eq!(
        event_ids(&records).len(),
        created.len(),
        "distinct event ids"
    );
    let keys: HashSet<String> = records.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, created.iter().cloned().collect());
    assert_eq!(
        app.outbox_depth().await,
        0,
        "published events leave the outbox"
    );
    let calls = calls.lock().unwrap();
    assert!(
        calls.failed().is_empty(),
        "no batch failed: {:?}",
        calls.failed()
    );
    assert!(
        calls.attempted.len() < created.len(),
        "{} events in {} publishes: batched",
        created.len(),
        calls.attempted.len()
    );
    let bound = KafkaBatchConfig::default().max_records;
    assert!(calls.attempted.iter().all(|keys| keys.len() <= bound));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_leaves_every_one_of_its_events_in_the_outbox_for_the_relay() {
    const PEOPLE: usize = 120;
    let mut app = spawn_rush(PEOPLE).await;
    app.seed(1, &[("PWTC", 1000)]).await;
    // local-api's defaults: the gate, not a long linger, makes the failing batches large.
    let (bookings, calls) = batched_bookings(&app, &KafkaBatchConfig::default(), PEOPLE);
    app.broker.stop();
    let ids = people(1000, PEOPLE);

    let created = book_concurrently(&app, &bookings, &calls, &ids).await;

    let failed = calls.lock().unwrap().failed();
    assert!(
        failed.iter().any(|batch| batch.len() > 1),
        "a batch of several events failed: {failed:?}"
    );
    let waiting = keys_in_outbox(&app.store).await;
    for key in failed.iter().flatten() {
        assert!(
            waiting.contains(key),
            "{key} of a failed batch is in the outbox"
        );
    }
    assert_eq!(
        waiting,
        created.iter().cloned().collect(),
        "every 201's event waits"
    );
    assert_eq!(app.outbox_depth().await, created.len() as u64);

    // A booking stops waiting for its batch at its timeout, but the batch goes on trying the
    // broker until its own: restarted before that, the broker would take the batch and the
    // relay would publish it again. Only once every call is over is the relay alone.
    tokio::time::timeout(Duration::from_secs(60), async {
        while !calls.lock().unwrap().settled(created.len()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every batch ends within its timeout");

    // The relay publishes them all once the broker is back: none lost, none twice.
    app.broker.restart();
    create_topic(&app.broker).await;
    let relay = OutboxRelay::new(
        app.store.clone(),
        publisher(&app.broker),
        RelaySettings {
            min_age: Duration::ZERO,
            ..RelaySettings::default()
        },
    );
    let report = relay.run().await.unwrap();
    assert_eq!(report.published, created.len() as u64);
    let records = read_topic(&app.broker, created.len()).await;
    assert_eq!(records.len(), created.len());
    assert_eq!(
        event_ids(&records).len(),
        created.len(),
        "distinct event ids"
    );
    assert_eq!(app.outbox_depth().await, 0);
}
