//! Test fixtures: every test gets its own redis-server on its own port, so tests run in
//! parallel, leave nothing behind, and can stop and restart "their" Redis.
use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use rskafka::client::partition::UnknownTopicHandling;
use serde_json::Value;
use shared::booking::{BookingLookup, BookingService, PublishSettings};
use shared::kafka::{KafkaEndpoint, KafkaPublisher, Security};
use shared::ownership::BookingReferences;
use shared::ports::Clock;
use shared::seed::{SeedRequest, SeedService, StationCapacity};
use shared::station::StationService;
use shared::store::{RedisStore, RedisTimeouts};

/// A server child process (redis-server, the tansu broker) bound to 127.0.0.1 on a free port,
/// killed on drop. `restart` brings it back on the same port, empty: nothing is persisted.
pub struct ServerProcess {
    pub port: u16,
    binary: String,
    args: Vec<String>,
    child: Option<Child>,
}

impl ServerProcess {
    fn start(binary: String, args: impl Fn(u16) -> Vec<String>) -> Self {
        let port = free_port();
        let mut server = Self {
            port,
            binary,
            args: args(port),
            child: None,
        };
        server.restart();
        server
    }

    /// redis-server from PATH, or REDIS_SERVER_BIN.
    pub fn redis() -> Self {
        let binary = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        Self::start(binary, |port| {
            [
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ]
            .into_iter()
            .chain(["--appendonly", "no"])
            .map(String::from)
            .collect()
        })
    }

    /// redis-server as `redis()` starts it, plus `extra` arguments; with `tls`, the port serves
    /// TLS only.
    pub fn redis_with(extra: &[&str], tls: bool) -> Self {
        let binary = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let extra: Vec<String> = extra.iter().map(|arg| (*arg).to_owned()).collect();
        Self::start(binary, move |port| {
            let port = port.to_string();
            let listen = if tls {
                ["--port", "0", "--tls-port", &port]
            } else {
                ["--port", &port, "--tls-port", "0"]
            };
            ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .into_iter()
                .chain(listen)
                .map(String::from)
                .chain(extra.iter().cloned())
                .collect()
        })
    }

    /// Sends a signal (`STOP`, `CONT`) to the running server.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// The tansu broker (in memory), from TANSU_BIN as `make test` sets it.
    pub fn broker() -> Self {
        let binary = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
        Self::start(binary, |port| {
            let url = format!("tcp://127.0.0.1:{port}");
            vec![
                "broker".into(),
                "--listener-url".into(),
                url.clone(),
                "--advertised-listener-url".into(),
                url,
                "--storage-engine".into(),
                "memory://tansu/".into(),
            ]
        })
    }

    /// A tansu broker that tells clients to reach it at `advertised` (a proxy in front of it).
    pub fn broker_behind(advertised: String) -> Self {
        let binary = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
        Self::start(binary, move |port| {
            vec![
                "broker".into(),
                "--listener-url".into(),
                format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url".into(),
                format!("tcp://{advertised}"),
                "--storage-engine".into(),
                "memory://tansu/".into(),
            ]
        })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(&self.binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} (run `make test`): {e}", self.binary));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "{} did not listen", self.binary);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// A log writer that keeps what it was given, for tests that read the log lines.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

pub const TOPIC: &str = "booking-slot";
pub const PARTITIONS: i32 = 3;

pub type Bookings = BookingService<RedisStore, RedisStore, KafkaPublisher>;

/// The server-side key the test app derives booking references with.
pub const TEST_REFERENCE_KEY: &[u8] = b"integration tests' booking reference key";

pub fn test_references() -> BookingReferences {
    BookingReferences::new(TEST_REFERENCE_KEY)
}

/// A clock the test moves by hand, so time-based rules are tested without sleeping.
pub struct TestClock(Mutex<SystemTime>);

impl TestClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// The application wired as the functions' mains wire it, against a private Redis and broker.
pub struct TestApp {
    pub redis: ServerProcess,
    pub broker: ServerProcess,
    pub store: RedisStore,
    pub stations: StationService<RedisStore>,
    pub lookup: BookingLookup<RedisStore>,
    pub bookings: Bookings,
    pub seeder: SeedService<RedisStore>,
    pub connection: ConnectionManager,
    /// The bookings' time source.
    pub clock: Arc<TestClock>,
    /// The last booking reference `POST /booking` gave for each ID: what its booker holds.
    pub issued: Mutex<HashMap<String, String>>,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: lambda_http::http::HeaderMap,
    pub body: Value,
}

impl From<Response<Body>> for TestResponse {
    fn from(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let body = serde_json::from_slice(body.as_ref()).expect("every response is JSON");
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl TestResponse {
    pub fn error_code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(PublishSettings {
        timeout: Duration::from_millis(1000),
        cool_down: Duration::from_millis(200),
    })
    .await
}

pub async fn spawn_app_with(publish: PublishSettings) -> TestApp {
    let redis = ServerProcess::redis();
    let broker = ServerProcess::broker();
    create_topic(&broker).await;
    let timeouts = RedisTimeouts {
        connect: Duration::from_millis(500),
        response: Duration::from_millis(1000),
    };
    let store = RedisStore::connect(&redis.url(), timeouts).expect("a valid URL");
    let clock = Arc::new(TestClock(Mutex::new(SystemTime::now())));
    TestApp {
        connection: store.connection(),
        stations: StationService::new(store.clone()),
        lookup: BookingLookup::new(store.clone(), test_references()),
        bookings: BookingService::new(
            store.clone(),
            store.clone(),
            publisher(&broker),
            publish,
            test_references(),
        )
        .with_clock(clock.clone()),
        clock,
        issued: Mutex::new(HashMap::new()),
        seeder: SeedService::new(store.clone()),
        store,
        redis,
        broker,
    }
}

pub fn publisher(broker: &ServerProcess) -> KafkaPublisher {
    KafkaPublisher::new(
        KafkaEndpoint {
            brokers: vec![broker.address()],
            security: Security::Plaintext,
        },
        TOPIC,
    )
}

async fn kafka_client(broker: &ServerProcess) -> rskafka::client::Client {
    rskafka::client::ClientBuilder::new(vec![broker.address()])
        .build()
        .await
        .expect("the test broker answers")
}

/// Topics are provisioned, not created by the application (see the README); tests do it here.
pub async fn create_topic(broker: &ServerProcess) {
    kafka_client(broker)
        .await
        .controller_client()
        .unwrap()
        .create_topic(TOPIC, PARTITIONS, 1, 5_000)
        .await
        .expect("topic created");
}

/// A record read back from the topic.
#[derive(Debug, Clone)]
pub struct Published {
    pub partition: i32,
    pub key: String,
    pub value: Value,
}

/// Reads every partition from the earliest offset (no consumer group: a first group join is
/// slow on the test broker) until `expected` records arrived or 10 s passed.
pub async fn read_topic(broker: &ServerProcess, expected: usize) -> Vec<Published> {
    let client = kafka_client(broker).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut offsets = vec![0_i64; PARTITIONS as usize];
    let mut records = Vec::new();
    while records.len() < expected && Instant::now() < deadline {
        for partition in 0..PARTITIONS {
            let partition_client = client
                .partition_client(TOPIC, partition, UnknownTopicHandling::Retry)
                .await
                .unwrap();
            let (batch, _) = partition_client
                .fetch_records(offsets[partition as usize], 1..1_000_000, 200)
                .await
                .unwrap();
            for record in batch {
                offsets[partition as usize] = record.offset + 1;
                records.push(Published {
                    partition,
                    key: String::from_utf8(record.record.key.unwrap()).unwrap(),
                    value: serde_json::from_slice(&record.record.value.unwrap()).unwrap(),
                });
            }
        }
    }
    records
}

pub fn request(method: Method, path: &str, body: impl Into<Body>) -> Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

/// A body-less request with an optional `Authorization` header.
pub fn authorized(method: Method, path: &str, authorization: Option<&str>) -> Request {
    let mut request = request(method, path, Body::Empty);
    if let Some(value) = authorization {
        request.headers_mut().insert(
            lambda_http::http::header::AUTHORIZATION,
            value.parse().expect("a header value"),
        );
    }
    request
}

pub fn booking_json(id: &str, location: &str, date: &str) -> String {
    serde_json::json!({
        "mysejahteraId": id,
        "firstName": "Fadhil",
        "lastName": "Yaacob",
        "address": "Kuala Lumpur",
        "location": location,
        "phoneNumber": "0123456789",
        "date": date,
    })
    .to_string()
}

impl TestApp {
    pub async fn get_station(&self, location: &str) -> TestResponse {
        let request = request(Method::GET, &format!("/stations/{location}"), Body::Empty);
        shared::http::get_station(&self.stations, request)
            .await
            .into()
    }

    /// Remembers the booking reference a reply carries, as the booker would.
    pub async fn post_booking(&self, body: impl Into<Body>) -> TestResponse {
        let request = request(Method::POST, "/booking", body);
        let response: TestResponse = shared::http::create_booking(&self.bookings, request)
            .await
            .into();
        if let (Some(id), Some(reference)) = (
            response.body["mysejahteraId"].as_str(),
            response.body["bookingReference"].as_str(),
        ) {
            self.issued
                .lock()
                .unwrap()
                .insert(id.to_owned(), reference.to_owned());
        }
        response
    }

    /// `Authorization: Bearer <reference>` with the last reference issued for `id`, if any.
    pub fn owner_authorization(&self, id: &str) -> Option<String> {
        let issued = self.issued.lock().unwrap();
        issued
            .get(id)
            .map(|reference| format!("Bearer {reference}"))
    }

    /// As the booker: with the last reference issued for `id` (none if never booked).
    /// `id` goes into the path as given, so tests can send escapes and odd characters.
    pub async fn get_booking(&self, id: &str) -> TestResponse {
        self.get_booking_as(id, self.owner_authorization(id).as_deref())
            .await
    }

    pub async fn get_booking_as(&self, id: &str, authorization: Option<&str>) -> TestResponse {
        let request = authorized(Method::GET, &format!("/booking/{id}"), authorization);
        shared::http::get_booking(&self.lookup, request)
            .await
            .into()
    }

    /// As the booker, like `get_booking`.
    pub async fn cancel_booking(&self, id: &str) -> TestResponse {
        self.cancel_booking_as(id, self.owner_authorization(id).as_deref())
            .await
    }

    pub async fn cancel_booking_as(&self, id: &str, authorization: Option<&str>) -> TestResponse {
        let request = authorized(Method::DELETE, &format!("/booking/{id}"), authorization);
        shared::http::cancel_booking(&self.bookings, request)
            .await
            .into()
    }

    pub async fn healthz(&self) -> TestResponse {
        let request = request(Method::GET, "/healthz", Body::Empty);
        shared::http::healthz(self.bookings.store(), request)
            .await
            .into()
    }

    pub async fn book(&self, id: &str, location: &str, date: &str) -> TestResponse {
        self.post_booking(booking_json(id, location, date)).await
    }

    /// Seeds `days` dates from 20210516 for each (location, daily capacity).
    pub async fn seed(&self, days: u32, stations: &[(&str, u32)]) {
        self.seeder
            .seed(SeedRequest {
                start_date: Some("20210516".into()),
                days: Some(days),
                stations: Some(
                    stations
                        .iter()
                        .map(|(location, daily_capacity)| StationCapacity {
                            location: (*location).into(),
                            daily_capacity: *daily_capacity,
                        })
                        .collect(),
                ),
                reset: None,
            })
            .await
            .expect("seeding works");
    }

    pub async fn remaining(&self, location: &str, date: &str) -> Option<i64> {
        let mut connection = self.connection.clone();
        connection
            .hget(format!("slots:{location}"), date)
            .await
            .unwrap()
    }

    /// Every key in the private Redis with its value dumped, to prove a request changed nothing.
    pub async fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut connection = self.connection.clone();
        let mut keys: Vec<String> = connection.keys("*").await.unwrap();
        keys.sort();
        let mut dump = Vec::new();
        for key in keys {
            let value: Vec<u8> = redis::cmd("DUMP")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .unwrap();
            dump.push((key, value));
        }
        dump
    }

    pub async fn outbox_depth(&self) -> u64 {
        let mut connection = self.connection.clone();
        connection.xlen("outbox:booking-events").await.unwrap()
    }

    pub async fn count_keys(&self, pattern: &str) -> usize {
        let mut connection = self.connection.clone();
        let keys: Vec<String> = connection.keys(pattern).await.unwrap();
        keys.len()
    }
}

/// Redis timeouts short enough that a failing test fails fast.
pub const TEST_TIMEOUTS: RedisTimeouts = RedisTimeouts {
    connect: Duration::from_millis(500),
    response: Duration::from_millis(1000),
};

/// A seed of `days` dates from `start_date` for one station.
pub fn one_station_seed(
    start_date: &str,
    days: u32,
    location: &str,
    daily_capacity: u32,
    reset: bool,
) -> SeedRequest {
    SeedRequest {
        start_date: Some(start_date.into()),
        days: Some(days),
        stations: Some(vec![StationCapacity {
            location: location.into(),
            daily_capacity,
        }]),
        reset: Some(reset),
    }
}

/// The booking service as the functions wire it, on `store`, publishing to `broker`.
pub fn bookings_on(store: &RedisStore, broker: &ServerProcess) -> Bookings {
    BookingService::new(
        store.clone(),
        store.clone(),
        publisher(broker),
        PublishSettings::default(),
        test_references(),
    )
}

/// `POST /booking` of the test booking for `id` at PWTC on `date`, bounded in time: a store
/// that stops answering must cost its timeouts, never a hang.
pub async fn post_booking_to(bookings: &Bookings, id: &str, date: &str) -> TestResponse {
    let body = booking_json(id, "PWTC", date);
    tokio::time::timeout(
        Duration::from_secs(10),
        shared::http::create_booking(bookings, request(Method::POST, "/booking", body)),
    )
    .await
    .expect("the booking answers")
    .into()
}

/// One HTTP/1.1 message off a kept-open connection: its head, then exactly `content-length`
/// bytes of body. For tests that play a client or a server at the byte level.
pub async fn read_http_message(stream: &mut tokio::net::TcpStream) -> (String, String) {
    use tokio::io::AsyncReadExt;
    let mut message = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&message).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|line| line.strip_prefix("content-length: ")?.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return (head.to_owned(), body.to_owned());
            }
        }
        let read = stream.read(&mut chunk).await.unwrap();
        assert!(read > 0, "closed before a whole message: {text:?}");
        message.extend_from_slice(&chunk[..read]);
    }
}
