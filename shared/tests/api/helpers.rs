//! Test fixtures: every test gets its own redis-server on its own port, so tests run in
//! parallel, leave nothing behind, and can stop and restart "their" Redis.
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde_json::Value;
use shared::booking::BookingService;
use shared::seed::{SeedRequest, SeedService, StationCapacity};
use shared::station::StationService;
use shared::store::{RedisStore, RedisTimeouts};

/// A redis-server child process bound to 127.0.0.1 on a free port, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = free_port();
        let mut server = Self { port, child: None };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts (again) on the same port, empty: persistence is off.
    pub fn restart(&mut self) {
        self.stop();
        let binary = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} (run `make test`): {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
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

/// The application wired as a function's main wires it, against a private Redis.
pub struct TestApp {
    pub redis: RedisServer,
    pub stations: StationService<RedisStore>,
    pub bookings: BookingService<RedisStore>,
    pub seeder: SeedService<RedisStore>,
    pub connection: ConnectionManager,
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
    let redis = RedisServer::start();
    let timeouts = RedisTimeouts {
        connect: Duration::from_millis(500),
        response: Duration::from_millis(1000),
    };
    let store = RedisStore::connect(&redis.url(), timeouts).expect("a valid URL");
    TestApp {
        connection: store.connection(),
        stations: StationService::new(store.clone()),
        bookings: BookingService::new(store.clone()),
        seeder: SeedService::new(store),
        redis,
    }
}

pub fn request(method: Method, path: &str, body: impl Into<Body>) -> Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
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

    pub async fn post_booking(&self, body: impl Into<Body>) -> TestResponse {
        let request = request(Method::POST, "/booking", body);
        shared::http::create_booking(&self.bookings, request)
            .await
            .into()
    }

    /// `id` goes into the path as given, so tests can send escapes and odd characters.
    pub async fn get_booking(&self, id: &str) -> TestResponse {
        let request = request(Method::GET, &format!("/booking/{id}"), Body::Empty);
        shared::http::get_booking(&self.bookings, request)
            .await
            .into()
    }

    pub async fn cancel_booking(&self, id: &str) -> TestResponse {
        let request = request(Method::DELETE, &format!("/booking/{id}"), Body::Empty);
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

    pub async fn count_keys(&self, pattern: &str) -> usize {
        let mut connection = self.connection.clone();
        let keys: Vec<String> = connection.keys(pattern).await.unwrap();
        keys.len()
    }
}
