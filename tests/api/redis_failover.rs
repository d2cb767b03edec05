//! After a Redis restart (or failover) the first command on a warm connection finds it broken;
//! it is repeated once on a new connection, so the caller sees a normal answer, not a 503.
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use booking_core::ports::HealthCheck;
use booking_core::seed::SeedService;
use booking_core::station::StationService;
use booking_redis::RedisStore;
use lambda_http::Body;
use lambda_http::http::{Method, StatusCode};

use crate::helpers::booking_key_of;
use crate::helpers::person_id;
use crate::helpers::{
    ServerProcess, TEST_TIMEOUTS, TestResponse, bookings_on, create_topic, one_station_seed,
    post_booking_to, request,
};

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
    let store = RedisStore::connect(&redis.url(), TEST_TIMEOUTS).unwrap();
    let seeder = SeedService::new(store.clone());
    let seed = one_station_seed("20210516", 1, "PWTC", 10, false);
    let bookings = bookings_on(&store, &broker);
    let stations = StationService::new(store.clone());
    let book = async |id: &str| post_booking_to(&bookings, id, "20210516").await;
    seeder.seed(seed.clone()).await.unwrap();
    assert_eq!(book(&person_id(1)).await.status, StatusCode::CREATED);

    // Each first request after a restart: a script (seed), the identical booking, a new
    // booking, a read.
    restart_loaded(&mut redis).await;
    assert_eq!(seeder.seed(seed).await.unwrap().dates_skipped, 1);
    restart_loaded(&mut redis).await;
    assert_eq!(book(&person_id(1)).await.status, StatusCode::OK);
    restart_loaded(&mut redis).await;
    assert_eq!(book(&person_id(2)).await.status, StatusCode::CREATED);
    restart_loaded(&mut redis).await;
    let station: TestResponse = booking_http::get_station(
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
    // The stalled PING costs the response timeout; the first command after it must connect
    // and answer within them: the suite's timeouts, not shorter ones that a busy machine
    // can miss.
    let store = RedisStore::connect(&redis.url(), TEST_TIMEOUTS).unwrap();
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
        matches!(
            stalled,
            Err(booking_core::ports::StoreError::Unavailable(_))
        ),
        "{stalled:?}"
    );
    store.ping().await.unwrap();
    assert_ne!(
        client_id().await,
        before,
        "still the connection that timed out"
    );
}

/// Stands in for a primary endpoint's DNS name: new connections go to whichever node is the
/// primary now, while connections made before a failover stay with the node they reached.
struct Endpoint {
    port: u16,
    target: Arc<AtomicU16>,
    accept: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    async fn pointing_at(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(target));
        let current = Arc::clone(&target);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let node = current.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", node)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self {
            port,
            target,
            accept,
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn replication_info(server: &ServerProcess) -> String {
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut connection)
        .await
        .unwrap()
}

async fn replicaof(server: &ServerProcess, primary: Option<u16>) {
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut command = redis::cmd("REPLICAOF");
    match primary {
        Some(port) => command.arg("127.0.0.1").arg(port),
        None => command.arg("NO").arg("ONE"),
    };
    let _: () = command.query_async(&mut connection).await.unwrap();
}

/// A failover as managed Redis does it: the replica is promoted, the old primary demoted (it
/// keeps its clients and refuses their writes with READONLY), the endpoint moves.
#[tokio::test]
async fn a_booking_after_a_failover_reaches_the_new_primary() {
    let old_primary = ServerProcess::redis();
    let old_port = old_primary.port.to_string();
    let new_primary = ServerProcess::redis_with(&["--replicaof", "127.0.0.1", &old_port], false);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !replication_info(&new_primary)
        .await
        .contains("master_link_status:up")
    {
        assert!(std::time::Instant::now() < deadline, "replica not linked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let endpoint = Endpoint::pointing_at(old_primary.port).await;
    let broker = ServerProcess::broker();
    create_topic(&broker).await;
    let store = RedisStore::connect(
        &format!("redis://127.0.0.1:{}", endpoint.port),
        TEST_TIMEOUTS,
    )
    .unwrap();
    SeedService::new(store.clone())
        .seed(one_station_seed("20210516", 1, "PWTC", 10, false))
        .await
        .unwrap();
    let bookings = bookings_on(&store, &broker);
    let book = async |id: &str| post_booking_to(&bookings, id, "20210516").await;
    assert_eq!(book(&person_id(1)).await.status, StatusCode::CREATED);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut on_new: redis::aio::MultiplexedConnection = redis::Client::open(new_primary.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    while !redis::AsyncCommands::exists::<_, bool>(&mut on_new, booking_key_of(&person_id(1)))
        .await
        .unwrap()
    {
        assert!(std::time::Instant::now() < deadline, "A1 not replicated");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    replicaof(&new_primary, None).await;
    replicaof(&old_primary, Some(new_primary.port)).await;
    endpoint.target.store(new_primary.port, Ordering::SeqCst);

    assert_eq!(book(&person_id(2)).await.status, StatusCode::CREATED);
    assert_eq!(book(&person_id(1)).await.status, StatusCode::OK);
    let held: i64 = redis::AsyncCommands::hget(&mut on_new, "held:{PWTC}", "20210516")
        .await
        .unwrap();
    assert_eq!(held, 2);
}
