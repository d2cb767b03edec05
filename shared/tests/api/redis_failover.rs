//! After a Redis restart (or failover) the first command on a warm connection finds it broken;
//! it is repeated once on a new connection, so the caller sees a normal answer, not a 503.
use std::time::Duration;

use lambda_http::Body;
use lambda_http::http::{Method, StatusCode};
use shared::booking::{BookingService, PublishSettings};
use shared::ports::SlotStore;
use shared::seed::{SeedRequest, SeedService, StationCapacity};
use shared::station::StationService;
use shared::store::{RedisStore, RedisTimeouts};

use crate::helpers::{ServerProcess, TestResponse, booking_json, create_topic, publisher, request};

/// Removes the append-only files of the Redis that keeps its data across restarts.
struct DataDir(std::path::PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Restarts Redis and waits until it has loaded its data: a promoted replica serves at once,
/// and a restart answers LOADING until then (not a broken connection).
async fn restart_loaded(redis: &mut ServerProcess) {
    redis.restart();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // A command (not INFO, which answers during loading too) succeeds once it has loaded.
    while redis::cmd("DBSIZE")
        .query_async::<i64>(&mut connection)
        .await
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "Redis did not load");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_first_request_after_a_redis_restart_answers_normally() {
    let dir = DataDir(std::env::temp_dir().join(format!("redis-aof-{}", uuid::Uuid::new_v4())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let dir_arg = dir.0.to_str().unwrap().to_owned();
    // Every write on disk before its reply, so a restart keeps what was confirmed.
    let mut redis = ServerProcess::redis_with(
        &[
            "--dir",
            &dir_arg,
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],
        false,
    );
    let broker = ServerProcess::broker();
    create_topic(&broker).await;
    let store = RedisStore::connect(
        &redis.url(),
        RedisTimeouts {
            connect: Duration::from_millis(500),
            response: Duration::from_millis(1000),
        },
    )
    .unwrap();
    let seeder = SeedService::new(store.clone());
    let seed = SeedRequest {
        start_date: Some("20210516".into()),
        days: Some(1),
        stations: Some(vec![StationCapacity {
            location: "PWTC".into(),
            daily_capacity: 10,
        }]),
        reset: None,
    };
    let bookings = BookingService::new(
        store.clone(),
        store.clone(),
        publisher(&broker),
        PublishSettings::default(),
    );
    let stations = StationService::new(store.clone());
    let book = async |id: &str| -> TestResponse {
        let body = booking_json(id, "PWTC", "20210516");
        shared::http::create_booking(&bookings, request(Method::POST, "/booking", body))
            .await
            .into()
    };
    seeder.seed(seed.clone()).await.unwrap();
    assert_eq!(book("A1").await.status, StatusCode::CREATED);

    // Each first request after a restart: a script (seed), the identical booking, a new
    // booking, a read.
    restart_loaded(&mut redis).await;
    assert_eq!(seeder.seed(seed).await.unwrap().dates_skipped, 1);
    restart_loaded(&mut redis).await;
    assert_eq!(book("A1").await.status, StatusCode::OK);
    restart_loaded(&mut redis).await;
    assert_eq!(book("A2").await.status, StatusCode::CREATED);
    restart_loaded(&mut redis).await;
    let station: TestResponse = shared::http::get_station(
        &stations,
        request(Method::GET, "/stations/PWTC", Body::Empty),
    )
    .await
    .into();
    assert_eq!(station.status, StatusCode::OK);
    assert_eq!(station.body[0]["availability"], 8);
}

/// A primary that stops answering without closing the connection (its host gone) would time
/// out every command until TCP gives up; after one timeout the store uses a new connection.
#[tokio::test]
async fn after_a_timeout_the_next_commands_use_a_new_connection() {
    let redis = ServerProcess::redis();
    let store = RedisStore::connect(
        &redis.url(),
        RedisTimeouts {
            connect: Duration::from_millis(300),
            response: Duration::from_millis(300),
        },
    )
    .unwrap();
    let client_id = async || -> i64 {
        redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut store.connection())
            .await
            .unwrap()
    };
    store.ping().await.unwrap();
    let before = client_id().await;

    redis.signal("STOP");
    let stalled = store.ping().await;
    redis.signal("CONT");

    assert!(
        matches!(stalled, Err(shared::ports::StoreError::Unavailable(_))),
        "{stalled:?}"
    );
    store.ping().await.unwrap();
    assert_ne!(
        client_id().await,
        before,
        "still the connection that timed out"
    );
}
