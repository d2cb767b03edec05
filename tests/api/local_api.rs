//! The single-process server (`local-api`): real TCP on 127.0.0.1, the same handlers.
use std::time::Duration;

use booking_core::booking::PublishSettings;
use booking_http::Api;
use booking_http::server_settings::{ClientRate, ServerLimits};
use booking_redis::{RedisStore, RedisTimeouts};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::{
    TestApp, booking_json, person_id, publisher, read_http_message, spawn_app, test_check_in,
    test_references,
};

type LocalApi = Api<RedisStore, RedisStore, booking_kafka::KafkaPublisher>;

struct Server {
    address: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// The last booking reference a reply carried; `call` shows it, as the booker would.
    reference: std::sync::Mutex<Option<String>>,
}

impl Server {
    /// With the per-client write limit off: these tests play many clients from one address.
    async fn start(app: &TestApp) -> Self {
        Self::start_with(app, unlimited_writes()).await
    }

    async fn start_with(app: &TestApp, limits: ServerLimits) -> Self {
        let store = RedisStore::connect(&app.redis.url(), RedisTimeouts::default()).unwrap();
        let api: LocalApi = Api::new(
            store.clone(),
            store,
            publisher(&app.broker),
            PublishSettings::default(),
            test_references(),
            test_check_in(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(booking_http::server::serve_with(
            listener,
            api,
            limits,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            address,
            stop: Some(stop),
            task,
            reference: std::sync::Mutex::new(None),
        }
    }

    /// Sends raw bytes, so tests can send what no well-behaved client would.
    async fn send(&self, raw: &[u8]) -> (u16, String, Value) {
        let mut stream = TcpStream::connect(self.address).await.unwrap();
        // The server may answer and close before reading a huge body: a failed write is fine.
        let _ = stream.write_all(raw).await;
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
            .await
            .expect("an answer in time")
            .ok();
        let reply = String::from_utf8_lossy(&reply).into_owned();
        let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
        let status = head[9..12].parse().unwrap();
        let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
        (status, head.to_ascii_lowercase(), body)
    }

    async fn call(&self, method: &str, path: &str, body: &str) -> (u16, String, Value) {
        let authorization = self
            .reference
            .lock()
            .unwrap()
            .as_ref()
            .map(|reference| format!("authorization: Bearer {reference}\r\n"))
            .unwrap_or_default();
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
             {authorization}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let reply = self.send(raw.as_bytes()).await;
        if let Some(reference) = reply.2["bookingReference"].as_str() {
            *self.reference.lock().unwrap() = Some(reference.to_owned());
        }
        reply
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("stops in time")
            .unwrap();
    }
}

#[tokio::test]
async fn every_endpoint_is_served_on_one_port() {
    let app = spawn_app().await;
    app.seed(1, &[("PWTC", 2)]).await;
    let server = Server::start(&app).await;
    let booking = booking_json("900127015527", "PWTC", "20210516");

    let cases = [
        ("GET", "/healthz", "", 200, None),
        ("GET", "/stations/PWTC", "", 200, None),
        ("POST", "/booking", booking.as_str(), 201, None),
        ("GET", "/booking/900127015527", "", 200, None),
        ("DELETE", "/booking/900127015527", "", 200, None),
        (
            "DELETE",
            "/booking/900127015527",
            "",
            404,
            Some("booking_not_found"),
        ),
        (
            "GET",
            "/booking/900127015527/",
            "",
            404,
            Some("booking_not_found"),
        ),
        ("GET", "/openapi.json", "", 200, None),
        ("GET", "/docs", "", 200, None),
        ("GET", "/", "", 200, None),
        ("GET", "/booking/", "", 404, Some("route_not_found")),
        ("GET", "/stations", "", 200, None),
        ("POST", "/stations", "", 405, Some("method_not_allowed")),
        (
            "GET",
            "/stations/PWTC/extra",
            "",
            404,
            Some("route_not_found"),
        ),
        (
            "PUT",
            "/booking/900127015527",
            "",
            405,
            Some("method_not_allowed"),
        ),
        ("GET", "/booking", "", 405, Some("method_not_allowed")),
        ("POST", "/healthz", "", 405, Some("method_not_allowed")),
    ];
    for (method, path, body, status, code) in cases {
        let (got, head, reply) = server.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path}");
        if let Some(code) = code {
            assert_eq!(reply["error"], code, "{method} {path}");
            assert!(head.contains("content-type: application/json"), "{path}");
        }
        if status == 405 {
            assert!(head.contains("\r\nallow: "), "{method} {path}: {head}");
        }
    }
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(2));
    server.stop().await;
}

#[tokio::test]
async fn hostile_requests_get_a_4xx_and_change_nothing() {
    let app = spawn_app().await;
    app.seed(1, &[("PWTC", 5)]).await;
    app.book("900127015527", "PWTC", "20210516").await;
    let server = Server::start(&app).await;
    let before = app.snapshot().await;
    let long_id = "9".repeat(10_000);
    // Deep enough to overflow a naive recursive parser, small enough to reach the parser.
    let deep = format!("{}{}", "[".repeat(8_000), "]".repeat(8_000));
    let huge = format!("{{\"address\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));

    let cases: Vec<(&str, String, String, u16)> = vec![
        ("GET", "/booking/9001:27015527".into(), String::new(), 400),
        (
            "GET",
            "/booking/booking:900127015527".into(),
            String::new(),
            400,
        ),
        ("GET", "/booking/{900127015527}".into(), String::new(), 400),
        (
            "GET",
            "/booking/%7B900127015527%7D".into(),
            String::new(),
            400,
        ),
        ("GET", "/booking/*".into(), String::new(), 400),
        ("DELETE", "/booking/*".into(), String::new(), 400),
        (
            "DELETE",
            "/booking/900127015527%20".into(),
            String::new(),
            400,
        ),
        ("DELETE", "/booking/%F0%9F%92%89".into(), String::new(), 400),
        ("DELETE", "/booking/%FF".into(), String::new(), 400),
        (
            "DELETE",
            "/booking/..%2F900127015527".into(),
            String::new(),
            400,
        ),
        ("DELETE", format!("/booking/{long_id}"), String::new(), 400),
        ("GET", "/stations/PW%20TC".into(), String::new(), 400),
        ("GET", "/stations/slots:PWTC".into(), String::new(), 400),
        ("POST", "/booking".into(), deep, 400),
        ("POST", "/booking".into(), huge, 413),
        (
            "POST",
            "/booking".into(),
            booking_json("900127015527", "PWTC", "20210230"),
            400,
        ),
    ];
    for (method, path, body, status) in cases {
        let (got, _, reply) = server.call(method, &path, &body).await;
        let shown: String = path.chars().take(60).collect();
        assert_eq!(got, status, "{method} {shown}");
        assert!(reply["error"].is_string(), "{method} {shown}: {reply}");
    }

    // Raw bytes no client library would send: not UTF-8, wrong media type, a lying length.
    let booking = booking_json(&person_id(2), "PWTC", "20210516");
    let raw_cases: Vec<(Vec<u8>, u16)> = vec![
        (
            b"POST /booking HTTP/1.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 4\r\n\r\n{\xff\xfe}".to_vec(),
            400,
        ),
        (
            format!("POST /booking HTTP/1.1\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{booking}", booking.len()).into_bytes(),
            415,
        ),
        (
            b"GET /booking/\xf0\x9f\x92\x89 HTTP/1.1\r\nconnection: close\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for (raw, status) in raw_cases {
        let (got, _, _) = server.send(&raw).await;
        assert_eq!(got, status, "{}", String::from_utf8_lossy(&raw[..30]));
    }

    assert_eq!(
        app.snapshot().await,
        before,
        "hostile requests change nothing"
    );
    let (status, _, _) = server.call("GET", "/healthz", "").await;
    assert_eq!(status, 200, "the server survives all of it");
    server.stop().await;
}

/// A reply read off a kept-alive connection: its status and body.
async fn read_reply(stream: &mut TcpStream) -> (u16, String) {
    let (head, body) = read_http_message(stream).await;
    (head[9..12].parse().unwrap(), body)
}

async fn send_get(stream: &mut TcpStream, path: &str) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
}

#[tokio::test]
async fn metrics_are_served_on_the_operator_port_only() {
    let app = spawn_app().await;
    app.seed(1, &[("PWTC", 1)]).await;
    let server = Server::start(&app).await;
    let handle = ::local_api::prometheus().expect("the only recorder here");
    let operator = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let operator_address = operator.local_addr().unwrap();
    let (stop_operator, operator_stopped) = oneshot::channel::<()>();
    let operator_task = tokio::spawn(booking_http::operator::serve_metrics(
        operator,
        ::local_api::render_metrics(handle),
        async {
            let _ = operator_stopped.await;
        },
    ));
    let booking = booking_json("900127015527", "PWTC", "20210516");
    assert_eq!(server.call("POST", "/booking", &booking).await.0, 201);
    let other = booking_json("770101015599", "PWTC", "20210516");
    assert_eq!(server.call("POST", "/booking", &other).await.0, 409);

    // The public port does not know the path at all.
    let (status, head, body) = server.call("GET", "/metrics", "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("route_not_found"))
    );
    assert!(head.contains("content-type: application/json"), "{head}");

    // Only its address and `call` are used: the operator port stops below.
    let operator_port = Server {
        address: operator_address,
        stop: None,
        task: tokio::spawn(async {}),
        reference: std::sync::Mutex::new(None),
    };
    let (status, head, body) = operator_port.call("GET", "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    // Other tests in this process book too, so counts are at least ours.
    let text = body.as_str().unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert!(value("bookings_created ") >= 1.0);
    assert!(value("bookings_rejected{reason=\"fully_booked\"} ") >= 1.0);
    assert!(value("store_latency_ms_count{operation=\"book\"} ") >= 2.0);
    assert!(text.contains("store_latency_ms_bucket{operation=\"book\",le=\"1\"}"));
    assert!(text.contains("# TYPE broker_latency_ms histogram"));
    assert!(!text.contains("900127015527"));
    let (status, head, _) = operator_port.call("POST", "/metrics", "").await;
    assert_eq!(status, 405);
    assert!(head.contains("\r\nallow: get"), "{head}");
    let (status, _, body) = operator_port.call("GET", "/booking/900127015527", "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("route_not_found")),
        "the operator port serves nothing of the API"
    );

    stop_operator.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), operator_task)
        .await
        .expect("the operator port stops in time")
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_trickling_request_is_cut_off_and_changes_nothing() {
    let app = spawn_app().await;
    app.seed(1, &[("PWTC", 5)]).await;
    let limits = ServerLimits {
        request_timeout: Duration::from_secs(1),
        ..unlimited_writes()
    };
    let server = Server::start_with(&app, limits).await;
    let before = app.snapshot().await;
    // Bounds each wait well above the limit, so a slow machine cannot fail the test; a server
    // without the limit never answers and fails it.
    let bound = Duration::from_secs(15);

    // Complete headers, then a body that stops short of its declared length.
    let booking = booking_json("900127015527", "PWTC", "20210516");
    let mut slow_body = TcpStream::connect(server.address).await.unwrap();
    let head = format!(
        "POST /booking HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        booking.len()
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    slow_body
        .write_all(&booking.as_bytes()[..booking.len() / 2])
        .await
        .unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(bound, slow_body.read_to_end(&mut reply))
        .await
        .expect("the server gives up on the body and closes")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert_eq!(&head[9..12], "408", "{reply}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"], "request_timeout");

    // Headers that never end: the connection is dropped without a request being handled.
    let mut slow_head = TcpStream::connect(server.address).await.unwrap();
    slow_head
        .write_all(b"POST /booking HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(bound, slow_head.read_to_end(&mut rest))
        .await
        .expect("the server drops the connection")
        .ok();

    assert_eq!(app.snapshot().await, before, "nothing was booked");
    assert_eq!(server.call("GET", "/healthz", "").await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let app = spawn_app().await;
    let limits = ServerLimits {
        max_connections: 2,
        request_timeout: Duration::from_secs(60),
        ..unlimited_writes()
    };
    let server = Server::start_with(&app, limits).await;

    // Two kept-alive connections, each proven served, hold both slots.
    let mut first = TcpStream::connect(server.address).await.unwrap();
    let mut second = TcpStream::connect(server.address).await.unwrap();
    for stream in [&mut first, &mut second] {
        send_get(stream, "/healthz").await;
        assert_eq!(read_reply(stream).await.0, 200);
    }

    // The third is queued by the kernel, not served, while both slots are held.
    let mut third = TcpStream::connect(server.address).await.unwrap();
    send_get(&mut third, "/healthz").await;
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "a third connection was served beyond the cap of 2"
    );
    // The held ones still work.
    send_get(&mut first, "/healthz").await;
    assert_eq!(read_reply(&mut first).await.0, 200);

    // A slot frees up: the waiting connection is served.
    drop(second);
    let (status, _) = tokio::time::timeout(Duration::from_secs(10), read_reply(&mut third))
        .await
        .expect("served once a slot is free");
    assert_eq!(status, 200);
    drop(first);
    drop(third);
    server.stop().await;
}

fn unlimited_writes() -> ServerLimits {
    ServerLimits {
        client_rate: ClientRate {
            writes_per_minute: 0,
            ..ServerLimits::default().client_rate
        },
        ..ServerLimits::default()
    }
}

/// A client that pipelines requests and never reads the answers: its connection is closed once
/// the server's write has waited `write_timeout`, so the slot it held serves someone else.
#[tokio::test]
async fn a_client_that_stops_reading_loses_its_connection_and_others_are_served() {
    let app = spawn_app().await;
    let limits = ServerLimits {
        max_connections: 2,
        request_timeout: Duration::from_secs(60),
        write_timeout: Duration::from_secs(2),
        ..unlimited_writes()
    };
    let server = Server::start_with(&app, limits).await;

    // A small receive buffer, so the answers it never reads fill it soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(server.address).await.unwrap();
    let pipelined = "GET /openapi.json HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".repeat(200);
    stalled.write_all(pipelined.as_bytes()).await.unwrap();
    // The other slot serves someone else meanwhile.
    let mut other = TcpStream::connect(server.address).await.unwrap();
    send_get(&mut other, "/healthz").await;
    assert_eq!(read_reply(&mut other).await.0, 200);

    // A third waits in the kernel's backlog until the stalled connection gives its slot up.
    let mut third = TcpStream::connect(server.address).await.unwrap();
    send_get(&mut third, "/healthz").await;
    let (status, _) = tokio::time::timeout(Duration::from_secs(60), read_reply(&mut third))
        .await
        .expect("the stalled client's slot is given back (write timeout)");
    assert_eq!(status, 200);
    // And the stalled connection is closed: reading it drains what was sent, then ends.
    let mut sink = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), stalled.read_to_end(&mut sink)).await;
    assert!(ended.is_ok(), "the stalled connection was closed");
    drop((other, third));
    server.stop().await;
}

/// One address writing past its allowance gets 429 with Retry-After; its reads, and other
/// addresses' writes, go on.
#[tokio::test]
async fn one_address_past_its_write_allowance_gets_429_with_retry_after() {
    let app = spawn_app().await;
    app.seed(1, &[("PWTC", 10)]).await;
    let limits = ServerLimits {
        client_rate: ClientRate {
            writes_per_minute: 6,
            burst: 2,
            trusted_proxy_hops: 1,
        },
        ..ServerLimits::default()
    };
    let server = Server::start_with(&app, limits).await;
    let post = |forwarded_for: &str, id: &str| {
        let body = booking_json(id, "PWTC", "20210516");
        format!(
            "POST /booking HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
             x-forwarded-for: {forwarded_for}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    for n in 0..2 {
        let (status, _, _) = server
            .send(post("203.0.113.7", &person_id(n)).as_bytes())
            .await;
        assert_eq!(status, 201);
    }
    let (status, head, body) = server
        .send(post("203.0.113.7", &person_id(2)).as_bytes())
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "too_many_requests");
    let wait: u64 = head
        .lines()
        .find_map(|line| line.strip_prefix("retry-after: "))
        .expect("Retry-After")
        .trim()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&wait), "{wait}");
    assert_eq!(
        app.remaining("PWTC", "20210516").await,
        Some(8),
        "the refused one booked nothing"
    );
    // A forged first entry does not make another client: the proxy's entry is what counts.
    let (status, _, _) = server
        .send(post("1.2.3.4, 203.0.113.7", &person_id(3)).as_bytes())
        .await;
    assert_eq!(status, 429);
    let (status, _, _) = server
        .send(post("198.51.100.2", &person_id(4)).as_bytes())
        .await;
    assert_eq!(status, 201, "another address writes on");
    let (status, _, _) = server.call("GET", "/stations/PWTC", "").await;
    assert_eq!(status, 200, "reads are not limited");
    server.stop().await;
}
