//! Batched publishing, as local-api runs it, against a real broker (tansu) and a real Redis:
//! concurrent bookings share produce requests; each answers only once its own event was
//! acknowledged or is in the outbox for the relay; a failed batch leaves all its events there.
use std::collections::HashSet;
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

use crate::helpers::{
    TestApp, TestResponse, booking_json, create_topic, publisher, read_topic, request, spawn_app,
    test_references,
};

/// What the broker was asked (the people in each call) and whose events it acknowledged.
#[derive(Default)]
struct Calls {
    attempted: Vec<Vec<String>>,
    acknowledged: HashSet<String>,
}

impl Calls {
    /// Calls that failed or were abandoned (timed out) before the broker acknowledged them.
    fn failed(&self) -> Vec<Vec<String>> {
        self.attempted
            .iter()
            .filter(|keys| !keys.iter().all(|key| self.acknowledged.contains(key)))
            .cloned()
            .collect()
    }
}

/// The real Kafka publisher, with every call it makes recorded.
struct Recorded {
    inner: KafkaPublisher,
    calls: Arc<Mutex<Calls>>,
}

#[async_trait]
impl EventPublisher for Recorded {
    async fn publish(&self, records: &[EventRecord]) -> Result<(), PublishError> {
        let keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
        self.calls.lock().unwrap().attempted.push(keys.clone());
        let outcome = self.inner.publish(records).await;
        if outcome.is_ok() {
            self.calls.lock().unwrap().acknowledged.extend(keys);
        }
        outcome
    }
}

type BatchedBookings = BookingService<RedisStore, RedisStore, BatchingPublisher<Recorded>>;

fn batched_bookings(
    app: &TestApp,
    batch: &KafkaBatchConfig,
) -> (BatchedBookings, Arc<Mutex<Calls>>) {
    let calls = Arc::new(Mutex::new(Calls::default()));
    let settings = PublishSettings {
        timeout: Duration::from_millis(1000),
        cool_down: Duration::from_millis(200),
    };
    let recorded = Recorded {
        inner: publisher(&app.broker),
        calls: Arc::clone(&calls),
    };
    let publisher = BatchingPublisher::new(recorded, batch, settings.timeout);
    assert!(publisher.batching());
    let bookings = BookingService::new(
        app.store.clone(),
        app.store.clone(),
        publisher,
        settings,
        test_references(),
    );
    (bookings, calls)
}

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
    let answers = futures::future::join_all(ids.iter().map(|id| async move {
        let body = booking_json(id, "PWTC", "20210516");
        let response: TestResponse = tokio::time::timeout(
            Duration::from_secs(10),
            booking_http::create_booking(bookings, request(Method::POST, "/booking", body)),
        )
        .await
        .expect("the booking answers")
        .into();
        let acknowledged = calls.lock().unwrap().acknowledged.contains(id);
        let handed_to_relay = keys_in_outbox(&app.store).await.contains(id);
        (id.clone(), response.status, acknowledged || handed_to_relay)
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

fn people(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i:04}")).collect()
}

fn event_ids(records: &[crate::helpers::Published]) -> HashSet<String> {
    records
        .iter()
        .map(|r| r.value["eventId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bookings_share_produce_requests_and_every_event_is_published_once() {
    let app = spawn_app().await;
    app.seed(1, &[("PWTC", 1000)]).await;
    // local-api's defaults.
    let (bookings, calls) = batched_bookings(&app, &KafkaBatchConfig::default());
    let ids = people("B", 300);

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
    let mut app = spawn_app().await;
    app.seed(1, &[("PWTC", 1000)]).await;
    // A longer linger than local-api's, so that even on a loaded machine the first batches
    // gather several bookings before the broker's failure is known.
    let linger = KafkaBatchConfig {
        linger: Duration::from_millis(50),
        ..KafkaBatchConfig::default()
    };
    let (bookings, calls) = batched_bookings(&app, &linger);
    app.broker.stop();
    let ids = people("D", 120);

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
