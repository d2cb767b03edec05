//! Booking events against a real broker (tansu) and a real Redis: none lost, duplicates only
//! ever under the same event id.
use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use lambda_http::http::StatusCode;

use booking_core::outbox::{DeliveryError, OutboxRelay, RelayError, RelaySettings};
use booking_core::ports::{Outbox, OutboxEntry, StoreError};
use booking_kafka::partition_for;
use booking_redis::RedisStore;

use crate::helpers::{AppOptions, RedisMode, person_id, spawn_app_with};
use crate::helpers::{PARTITIONS, TestApp, create_topic, publisher, read_topic, spawn_app};

fn relay_settings() -> RelaySettings {
    RelaySettings {
        min_age: Duration::ZERO,
        batch_size: 7,
        ..RelaySettings::default()
    }
}

async fn book_people(app: &TestApp, first: usize, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let id = person_id(first + i);
        let response = app.book(&id, "PWTC", "20210516").await;
        assert_eq!(response.status, StatusCode::CREATED, "{id}");
        ids.push(id);
    }
    ids
}

/// An app whose broker was down while `count` people booked, and is back (empty) now.
async fn app_with_delayed_events(count: usize) -> (TestApp, Vec<String>) {
    let mut app = spawn_app().await;
    app.seed(1, &[("PWTC", 100)]).await;
    app.broker.stop();
    let ids = book_people(&app, 0, count).await;
    app.broker.restart();
    create_topic(&app.broker).await;
    (app, ids)
}

fn event_ids(records: &[crate::helpers::Published]) -> HashSet<String> {
    records
        .iter()
        .map(|r| r.value["eventId"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_booking_is_published_once_keyed_by_person(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 100)]).await;

    let ids = book_people(&app, 1000, 25).await;

    let records = read_topic(&app.broker, ids.len()).await;
    assert_eq!(records.len(), ids.len());
    assert_eq!(event_ids(&records).len(), ids.len(), "distinct event ids");
    for record in &records {
        assert_eq!(record.value["type"], "booking.created");
        assert_eq!(
            record.value["booking"]["mysejahteraId"],
            record.key.as_str()
        );
        assert_eq!(record.value["booking"]["location"], "PWTC");
        let expected = partition_for(record.key.as_bytes(), PARTITIONS as usize);
        assert_eq!(
            record.partition as usize, expected,
            "Kafka's default partitioner"
        );
    }
    let keys: HashSet<_> = records.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, ids.into_iter().collect());
    assert_eq!(
        app.outbox_depth().await,
        0,
        "published events leave the outbox"
    );
}

in_both_modes!(every_booking_is_published_once_keyed_by_person);

async fn a_broker_outage_delays_events_and_loses_none(mode: RedisMode) {
    let mut app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 100)]).await;
    book_people(&app, 1000, 5).await;
    assert_eq!(read_topic(&app.broker, 5).await.len(), 5);

    app.broker.stop();
    let delayed = book_people(&app, 0, 12).await;
    assert_eq!(
        app.outbox_depth().await,
        12,
        "the outbox holds every delayed event"
    );

    // The broker returns empty (in-memory storage): only the delayed events can be counted.
    app.broker.restart();
    create_topic(&app.broker).await;
    let relay = OutboxRelay::new(app.store.clone(), publisher(&app.broker), relay_settings());
    let report = relay.run().await.unwrap();

    assert_eq!(report.published, 12);
    assert_eq!(report.remaining, 0);
    let records = read_topic(&app.broker, 12).await;
    assert_eq!(records.len(), 12);
    assert_eq!(event_ids(&records).len(), 12);
    let keys: HashSet<_> = records.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, delayed.into_iter().collect());
    assert_eq!(app.outbox_depth().await, 0);
}

in_both_modes!(a_broker_outage_delays_events_and_loses_none);

async fn bookings_publish_again_once_the_broker_is_back(mode: RedisMode) {
    let mut app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 100)]).await;
    app.broker.stop();
    book_people(&app, 2000, 2).await;
    app.broker.restart();
    create_topic(&app.broker).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // past the breaker's cool-down

    book_people(&app, 3000, 3).await;

    let records = read_topic(&app.broker, 3).await;
    let keys: HashSet<_> = records.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, (3000..3003).map(person_id).collect());
    assert_eq!(
        app.outbox_depth().await,
        2,
        "only the relay publishes the older two"
    );
}

in_both_modes!(bookings_publish_again_once_the_broker_is_back);

/// An outbox whose removal fails, as if the relay crashed between publish and removal.
struct CrashBeforeRemoval(RedisStore);

#[async_trait]
impl Outbox for CrashBeforeRemoval {
    async fn oldest(
        &self,
        limit: usize,
        min_age: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.0.oldest(limit, min_age).await
    }
    async fn remove(&self, _: &[String]) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("relay crashed".into()))
    }
    async fn depth(&self) -> Result<u64, StoreError> {
        self.0.depth().await
    }
    async fn acquire_relay_lease(&self, ttl: Duration) -> Result<Option<String>, StoreError> {
        self.0.acquire_relay_lease(ttl).await
    }
    async fn release_relay_lease(&self, token: &str) -> Result<(), StoreError> {
        self.0.release_relay_lease(token).await
    }
    async fn renew_relay_lease(&self, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.0.renew_relay_lease(token, ttl).await
    }
}

#[tokio::test]
async fn a_relay_crash_duplicates_under_the_same_event_id_and_loses_nothing() {
    let (app, _) = app_with_delayed_events(4).await;

    let crashing = OutboxRelay::new(
        CrashBeforeRemoval(app.store.clone()),
        publisher(&app.broker),
        relay_settings(),
    );
    let crashed = crashing.run().await;
    assert!(matches!(
        crashed,
        Err(RelayError::Delivery {
            source: DeliveryError::Remove(_),
            ..
        })
    ));
    assert_eq!(
        app.outbox_depth().await,
        4,
        "nothing removed after the crash"
    );

    let relay = OutboxRelay::new(app.store.clone(), publisher(&app.broker), relay_settings());
    assert_eq!(relay.run().await.unwrap().published, 4);

    let records = read_topic(&app.broker, 8).await;
    assert_eq!(records.len(), 8, "each event twice");
    assert_eq!(
        event_ids(&records).len(),
        4,
        "under the same four event ids"
    );
    assert_eq!(app.outbox_depth().await, 0);
}

#[tokio::test]
async fn two_relays_at_once_publish_each_event_once() {
    let (app, _) = app_with_delayed_events(30).await;

    let first = OutboxRelay::new(app.store.clone(), publisher(&app.broker), relay_settings());
    let second = OutboxRelay::new(app.store.clone(), publisher(&app.broker), relay_settings());
    let (a, b) = tokio::join!(first.run(), second.run());
    let (a, b) = (a.unwrap(), b.unwrap());

    assert_eq!(a.published + b.published, 30);
    assert!(a.skipped != b.skipped, "exactly one relay held the lease");
    let records = read_topic(&app.broker, 30).await;
    assert_eq!(records.len(), 30);
    assert_eq!(event_ids(&records).len(), 30);
    assert_eq!(app.outbox_depth().await, 0);
}

#[tokio::test]
async fn fresh_events_are_left_to_the_booking_that_wrote_them() {
    let (app, _) = app_with_delayed_events(3).await;

    let patient = RelaySettings {
        min_age: Duration::from_secs(3600),
        ..relay_settings()
    };
    let report = OutboxRelay::new(app.store.clone(), publisher(&app.broker), patient)
        .run()
        .await
        .unwrap();

    assert_eq!(report.published, 0);
    assert_eq!(report.remaining, 3);
}

async fn a_cancellation_is_published_after_its_booking_on_the_same_partition(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 10)]).await;
    let [id] = <[String; 1]>::try_from(book_people(&app, 4000, 1).await).unwrap();

    let cancelled = app.cancel_booking(&id).await;

    assert_eq!(cancelled.status, StatusCode::OK);
    let records = read_topic(&app.broker, 2).await;
    let types: Vec<_> = records
        .iter()
        .map(|r| r.value["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["booking.created", "booking.cancelled"]);
    assert_eq!(records[0].partition, records[1].partition);
    assert_eq!(records[1].key, id);
    assert_eq!(records[1].value["booking"], records[0].value["booking"]);
    assert_eq!(event_ids(&records).len(), 2);
    assert_eq!(app.outbox_depth().await, 0);
}

in_both_modes!(a_cancellation_is_published_after_its_booking_on_the_same_partition);

async fn a_relay_lease_is_renewed_only_by_its_holder(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    let mut connection = app.connection.clone();
    let lease = app
        .store
        .acquire_relay_lease(Duration::from_millis(500))
        .await
        .unwrap()
        .expect("free");

    assert!(
        app.store
            .renew_relay_lease(&lease, Duration::from_secs(60))
            .await
            .unwrap()
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg("outbox:relay-lease")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl > 1_000, "renewed to the new TTL, got {ttl} ms");

    // The lease expired and another relay took it: the first may neither renew nor release it.
    let _: () = redis::cmd("DEL")
        .arg("outbox:relay-lease")
        .query_async(&mut connection)
        .await
        .unwrap();
    let other = app
        .store
        .acquire_relay_lease(Duration::from_secs(60))
        .await
        .unwrap()
        .expect("free again");
    assert!(
        !app.store
            .renew_relay_lease(&lease, Duration::from_secs(60))
            .await
            .unwrap()
    );
    app.store.release_relay_lease(&lease).await.unwrap();
    assert!(
        app.store
            .renew_relay_lease(&other, Duration::from_secs(60))
            .await
            .unwrap(),
        "the new holder keeps its lease"
    );
}

in_both_modes!(a_relay_lease_is_renewed_only_by_its_holder);

async fn events_ordered_by_sequence_tell_each_persons_final_state_after_a_cancel_rebook_race(
    mode: RedisMode,
) {
    const PEOPLE: usize = 24;
    // Each person cancels and books at once: timeouts sized for them all.
    let app = spawn_app_with(AppOptions::on(mode).concurrent(2 * PEOPLE)).await;
    app.seed(2, &[("PWTC", 100)]).await;
    let people = book_people(&app, 5000, PEOPLE).await;
    // Both scripts loaded first: a script's first run costs extra round trips, which would
    // decide the race rather than the order of sending.
    book_people(&app, 6000, 1).await;
    assert_eq!(
        app.cancel_booking(&person_id(6000)).await.status,
        StatusCode::OK
    );

    // Each person cancels and books another date at the same moment; which runs first in Redis
    // is up to the race (the order of sending alternates), not to the clocks that stamp occurredAt.
    let races = people.iter().enumerate().map(|(i, id)| {
        let app = &app;
        async move {
            let (cancel, rebook) = if i % 2 == 0 {
                tokio::join!(app.cancel_booking(id), app.book(id, "PWTC", "20210517"))
            } else {
                let (rebook, cancel) =
                    tokio::join!(app.book(id, "PWTC", "20210517"), app.cancel_booking(id));
                (cancel, rebook)
            };
            assert_eq!(cancel.status, StatusCode::OK, "{id}");
            assert!(
                [StatusCode::CREATED, StatusCode::CONFLICT].contains(&rebook.status),
                "{id}: {}",
                rebook.status
            );
            usize::from(rebook.status == StatusCode::CREATED)
        }
    });
    let rebooked: usize = futures::future::join_all(races).await.into_iter().sum();
    // Whatever the breaker left behind goes out through the relay.
    OutboxRelay::new(app.store.clone(), publisher(&app.broker), relay_settings())
        .run()
        .await
        .unwrap();

    let expected = 2 * people.len() + rebooked + 2;
    let mut records = read_topic(&app.broker, expected).await;
    let mut seen = HashSet::new();
    records.retain(|r| seen.insert(r.value["eventId"].as_str().unwrap().to_owned()));
    assert_eq!(records.len(), expected, "every event, once per event id");
    for id in &people {
        let mut mine: Vec<_> = records.iter().filter(|r| r.key == *id).collect();
        mine.sort_by_key(|r| {
            r.value["sequence"]
                .as_u64()
                .expect("every event is numbered")
        });
        let sequences: Vec<u64> = mine
            .iter()
            .map(|r| r.value["sequence"].as_u64().unwrap())
            .collect();
        let gapless: Vec<u64> = (1..=mine.len() as u64).collect();
        assert_eq!(sequences, gapless, "{id}: one number per event, no gaps");
        let mut state = None;
        for record in &mine {
            state = match record.value["type"].as_str().unwrap() {
                "booking.created" => Some(record.value["booking"].clone()),
                "booking.cancelled" => {
                    assert_eq!(Some(&record.value["booking"]), state.as_ref(), "{id}");
                    None
                }
                other => panic!("{id}: event type {other}"),
            };
        }
        let held = app.get_booking(id).await;
        let actual = (held.status == StatusCode::OK).then_some(held.body);
        assert_eq!(state, actual, "{id}: the events replayed by sequence");
    }
}

in_both_modes!(events_ordered_by_sequence_tell_each_persons_final_state_after_a_cancel_rebook_race);

/// After an upgrade, events still in the single outbox stream of earlier releases
/// (`outbox:booking-events`) are published and removed like those of the per-bucket streams.
#[tokio::test]
async fn the_relay_drains_the_outbox_stream_of_earlier_releases() {
    let app = spawn_app().await;
    let mut connection = app.connection.clone();
    let _: String = redis::cmd("XADD")
        .arg("outbox:booking-events")
        .arg("*")
        .arg("key")
        .arg("900127015527")
        .arg("event")
        .arg(r#"{"sequence":1,"eventId":"from-before-the-upgrade"}"#)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(app.outbox_depth().await, 1);
    let relay = OutboxRelay::new(app.store.clone(), publisher(&app.broker), relay_settings());
    assert_eq!(relay.run().await.unwrap().published, 1);
    assert_eq!(app.outbox_depth().await, 0);
    let records = read_topic(&app.broker, 1).await;
    assert_eq!(records[0].key, "900127015527");
    assert_eq!(records[0].value["eventId"], "from-before-the-upgrade");
}
