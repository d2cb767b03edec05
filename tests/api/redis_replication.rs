//! REDIS_WAIT_REPLICAS with a real primary and replica: a booking is confirmed only once the
//! replica acknowledged it; short of that 503, no event published, and the identical retry
//! answers 200 once the replica caught up.
use std::time::{Duration, Instant};

use booking_core::outbox::{OutboxRelay, RelaySettings};
use booking_core::seed::SeedService;
use booking_redis::config::ReplicaWait;
use booking_redis::{RedisOptions, RedisStore};
use lambda_http::http::{Method, StatusCode};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::helpers::person_id;
use crate::helpers::{
    Bookings, ServerProcess, TEST_TIMEOUTS, TestResponse, authorized, bookings_on, create_topic,
    one_station_seed, post_booking_to, publisher,
};
use crate::helpers::{booking_key_of, outbox_key_of};

const DATE: &str = "20210516";
/// For the writes the stopped replica cannot acknowledge: each one costs this timeout.
const WAIT_TIMEOUT: Duration = Duration::from_millis(300);
/// For the writes a running replica must acknowledge: WAIT answers once it has, so a long
/// timeout costs nothing, and a busy machine cannot turn a confirmation into a 503.
const PATIENT_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

async fn connection(server: &ServerProcess) -> ConnectionManager {
    let client = redis::Client::open(server.url()).unwrap();
    ConnectionManager::new(client).await.unwrap()
}

/// Polls `check` until it holds or 10 s passed.
async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn hget(connection: &ConnectionManager, key: &str) -> Option<i64> {
    connection.clone().hget(key, DATE).await.unwrap()
}

async fn post(bookings: &Bookings, id: &str) -> TestResponse {
    post_booking_to(bookings, id, DATE).await
}

/// The owner's cancel: with the reference its 201 carried.
async fn delete(bookings: &Bookings, id: &str, reference: &str) -> TestResponse {
    let path = format!("/booking/{id}");
    let bearer = format!("Bearer {reference}");
    tokio::time::timeout(
        Duration::from_secs(5),
        booking_http::cancel_booking(bookings, authorized(Method::DELETE, &path, Some(&bearer))),
    )
    .await
    .expect("the cancel answers")
    .into()
}

#[tokio::test]
async fn a_booking_is_confirmed_only_once_a_replica_has_it() {
    let primary = ServerProcess::redis();
    let primary_port = primary.port.to_string();
    let replica = ServerProcess::redis_with(&["--replicaof", "127.0.0.1", &primary_port], false);
    let broker = ServerProcess::broker();
    create_topic(&broker).await;
    let on_primary = connection(&primary).await;
    let on_replica = connection(&replica).await;
    eventually("the replica is linked", async || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut on_replica.clone())
            .await
            .unwrap();
        info.contains("master_link_status:up")
    })
    .await;

    let waiting = |timeout| {
        RedisStore::connect_with(
            &primary.url(),
            RedisOptions {
                timeouts: TEST_TIMEOUTS,
                wait: ReplicaWait {
                    replicas: 1,
                    timeout,
                },
                ..RedisOptions::default()
            },
        )
        .unwrap()
    };
    let (store, patient) = (waiting(WAIT_TIMEOUT), waiting(PATIENT_WAIT_TIMEOUT));
    SeedService::new(store.clone())
        .seed(one_station_seed(DATE, 1, "PWTC", 10, false))
        .await
        .unwrap();
    let bookings = bookings_on(&store, &broker);
    let relay_on = |store: &RedisStore| {
        OutboxRelay::new(
            store.clone(),
            publisher(&broker),
            RelaySettings {
                min_age: Duration::ZERO,
                ..RelaySettings::default()
            },
        )
    };
    let relay = relay_on(&store);

    let booked = post(&bookings_on(&patient, &broker), &person_id(1)).await;
    assert_eq!(booked.status, StatusCode::CREATED);
    let reference = booked.body["bookingReference"].as_str().unwrap().to_owned();
    assert_eq!(hget(&on_replica, "held:{PWTC}").await, Some(1));

    replica.signal("STOP");
    let unconfirmed = post(&bookings, &person_id(11)).await;
    assert_eq!(unconfirmed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unconfirmed.error_code(), "store_unavailable");
    // Its event stays in the outbox, and the relay does not publish it either.
    let outbox_depth = async || -> u64 {
        on_primary
            .clone()
            .xlen(outbox_key_of(&person_id(11)))
            .await
            .unwrap()
    };
    assert_eq!(outbox_depth().await, 1);
    assert!(relay.run().await.is_err());
    assert_eq!(outbox_depth().await, 1);
    // The identical retry is not confirmed either while the replica lags.
    assert_eq!(
        post(&bookings, &person_id(11)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let cancel = delete(&bookings, &person_id(1), &reference).await;
    assert_eq!(cancel.status, StatusCode::SERVICE_UNAVAILABLE);

    replica.signal("CONT");
    // WAIT answers once the resumed replica has caught up.
    let retried = post(&bookings_on(&patient, &broker), &person_id(11)).await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    // B1's booking and A1's cancellation, both replicated now (the cancel was applied on the
    // primary; only its confirmation was missing).
    assert_eq!(relay_on(&patient).run().await.unwrap().published, 2);

    // A1 cancelled, B1 booked: on the primary and on the replica alike.
    for (name, node) in [("primary", &on_primary), ("replica", &on_replica)] {
        let mut node = node.clone();
        assert_eq!(hget(&node, "held:{PWTC}").await, Some(1), "{name}");
        assert_eq!(hget(&node, "slots:{PWTC}").await, Some(9), "{name}");
        let keys: Vec<String> = node.keys("booking:*").await.unwrap();
        assert_eq!(keys, [booking_key_of(&person_id(11))], "{name}");
    }
}
