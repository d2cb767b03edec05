//! One-time codes through the verify-identity function as its main builds it, on real Redis
//! and Redis Cluster, with the file sender (what `make run` uses) and a clock the test moves:
//! the code's round trip to an identity token, and each limit.
use std::sync::Arc;
use std::time::Duration;

use booking_core::config::fixed_lookup;
use booking_core::domain::MySejahteraId;
use booking_core::ports::Clock;
use booking_runtime::telemetry::{self, LogSettings};
use lambda_http::http::{Method, StatusCode};
use redis::AsyncCommands;
use serde_json::json;
use verify_identity::{Settings, VerifyIdentity};

use crate::helpers::{
    Captured, RedisCluster, RedisMode, ServerProcess, TestClock, TestResponse, request,
};

const ID: &str = "900127015527";
const OTHER_IDS: [&str; 3] = ["880412105531", "770101015599", "010203040506"];
/// Digits of the phone's number that would give it away in a key, a value or a log line.
const PHONE: &str = "0123456789";
const PHONE_DIGITS: &str = "123456789";
const OTHER_PHONE: &str = "+60198765432";

struct Verifier {
    function: VerifyIdentity,
    clock: Arc<TestClock>,
    codes: std::path::PathBuf,
    /// The Redis servers (one, or the cluster's three), for looking inside.
    ports: Vec<u16>,
    _redis: ServerProcess,
    _cluster: Option<RedisCluster>,
}

impl Verifier {
    async fn start(mode: RedisMode, extra: &[(&str, &str)]) -> Self {
        let (redis, cluster) = match mode {
            RedisMode::Single => (ServerProcess::redis(), None),
            RedisMode::Cluster => (ServerProcess::not_started(), Some(RedisCluster::start())),
        };
        let (url, ports) = match &cluster {
            Some(cluster) => (
                cluster.url(),
                cluster.nodes.iter().map(|node| node.port).collect(),
            ),
            None => (redis.url(), vec![redis.port]),
        };
        let codes =
            std::env::temp_dir().join(format!("otp-codes-{}-{}.log", std::process::id(), ports[0]));
        let _ = std::fs::remove_file(&codes);
        let codes_path = codes.to_str().unwrap().to_owned();
        // Settings the test gives come first, so they win (a lookup takes the first match).
        let mut pairs = extra.to_vec();
        pairs.extend_from_slice(&[
            ("REDIS_URL", url.as_str()),
            (
                "REDIS_CLUSTER",
                if cluster.is_some() { "true" } else { "false" },
            ),
            (
                "IDENTITY_TOKEN_KEY",
                "integration tests' identity token key",
            ),
            ("OTP_SENDER", "file"),
            ("OTP_FILE", codes_path.as_str()),
        ]);
        let clock = Arc::new(TestClock::new());
        let settings = Settings::from_lookup(fixed_lookup(&pairs)).expect("test settings");
        let function = VerifyIdentity::build(settings)
            .expect("verify-identity builds")
            .with_clock(clock.clone());
        Self {
            function,
            clock,
            codes,
            ports,
            _redis: redis,
            _cluster: cluster,
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> TestResponse {
        self.function
            .handle(request(Method::POST, path, body.to_string()))
            .await
            .into()
    }

    async fn ask(&self, id: &str, phone: &str) -> TestResponse {
        self.post(
            "/verification",
            json!({"mysejahteraId": id, "phoneNumber": phone}),
        )
        .await
    }

    async fn confirm(&self, id: &str, phone: &str, code: &str) -> TestResponse {
        self.post(
            "/verification/confirm",
            json!({"mysejahteraId": id, "phoneNumber": phone, "code": code}),
        )
        .await
    }

    /// Asks for a code and reads it where the file sender put it.
    async fn code_for(&self, id: &str, phone: &str) -> String {
        let asked = self.ask(id, phone).await;
        assert_eq!(asked.status, StatusCode::ACCEPTED, "{:?}", asked.body);
        self.last_code()
    }

    fn last_code(&self) -> String {
        let text = std::fs::read_to_string(&self.codes).expect("the file sender wrote");
        let line = text.lines().last().expect("a line");
        line.rsplit(' ').next().unwrap().to_owned()
    }

    fn lines_sent(&self) -> usize {
        std::fs::read_to_string(&self.codes).map_or(0, |text| text.lines().count())
    }

    /// Every key of every node, with its TTL in ms and its value as text.
    async fn contents(&self) -> Vec<(String, i64, String)> {
        let mut all = Vec::new();
        for port in &self.ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = connection.keys("*").await.unwrap();
            for key in keys {
                let ttl: i64 = connection.pttl(&key).await.unwrap();
                let kind: String = redis::cmd("TYPE")
                    .arg(&key)
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                let value = match kind.as_str() {
                    "string" => connection.get::<_, String>(&key).await.unwrap(),
                    "hash" => format!(
                        "{:?}",
                        connection.hgetall::<_, Vec<String>>(&key).await.unwrap()
                    ),
                    "zset" => format!(
                        "{:?}",
                        connection
                            .zrange_withscores::<_, Vec<String>>(&key, 0, -1)
                            .await
                            .unwrap()
                    ),
                    other => panic!("{key} is a {other}: no script writes one"),
                };
                all.push((key, ttl, value));
            }
        }
        all
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.codes);
    }
}

fn retry_after(response: &TestResponse) -> u64 {
    response
        .headers
        .get("retry-after")
        .expect("a 429 says when to come back")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn id(raw: &str) -> MySejahteraId {
    MySejahteraId::parse(raw).unwrap()
}

async fn a_code_gives_a_token_for_that_id_only(mode: RedisMode) {
    let verifier = Verifier::start(mode, &[]).await;
    let asked = verifier.ask("900127-01-5527", PHONE).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    assert_eq!(asked.body, json!({"expiresInSeconds": 300}));
    let code = verifier.last_code();
    let confirmed = verifier.confirm(ID, "+60123456789", &code).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
    assert_eq!(confirmed.headers["cache-control"], "no-store");
    assert_eq!(confirmed.body["expiresInSeconds"], 900);
    let token = confirmed.body["identityToken"].as_str().unwrap();
    let tokens = verifier.function.service().tokens();
    let now = verifier.clock.now();
    assert_eq!(tokens.verify(token, now), Ok(id(ID)));
    assert_ne!(tokens.verify(token, now), Ok(id(OTHER_IDS[0])));
    assert!(
        tokens
            .verify(token, now + Duration::from_secs(900))
            .is_err()
    );

    let again = verifier.confirm(ID, PHONE, &code).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "a code works once");
    assert_eq!(again.error_code(), "verification_failed");

    let other_code = verifier.code_for(ID, PHONE).await;
    for (who, phone) in [(OTHER_IDS[0], PHONE), (ID, OTHER_PHONE)] {
        let refused = verifier.confirm(who, phone, &other_code).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "the code is {ID}'s on {PHONE}, not {who}'s on {phone}"
        );
    }
    assert_eq!(
        verifier.confirm(ID, PHONE, &other_code).await.status,
        StatusCode::OK
    );
}

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

async fn five_wrong_codes_lock_the_pair_for_fifteen_minutes(mode: RedisMode) {
    let verifier = Verifier::start(mode, &[]).await;
    // Four wrong tries leave the right code good.
    let code = verifier.code_for(ID, PHONE).await;
    for _ in 0..4 {
        let refused = verifier.confirm(ID, PHONE, &wrong(&code)).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused.error_code(), "verification_failed");
    }
    assert_eq!(
        verifier.confirm(ID, PHONE, &code).await.status,
        StatusCode::OK
    );

    // The fifth locks: the right code then fails too, and no new code is sent.
    let code = verifier.code_for(ID, PHONE).await;
    for _ in 0..5 {
        let refused = verifier.confirm(ID, PHONE, &wrong(&code)).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    let locked = verifier.confirm(ID, PHONE, &code).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        locked.body
    );
    assert_eq!(locked.error_code(), "verification_locked");
    assert_eq!(retry_after(&locked), 15 * 60);
    let sent = verifier.lines_sent();
    let asked = verifier.ask(ID, PHONE).await;
    assert_eq!(asked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(asked.error_code(), "verification_locked");
    assert_eq!(verifier.lines_sent(), sent, "nothing sent while locked");
    verifier.clock.advance(Duration::from_secs(14 * 60 + 59));
    let still = verifier.confirm(ID, PHONE, &code).await;
    assert_eq!(still.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&still), 1);
    verifier.clock.advance(Duration::from_secs(1));
    let code = verifier.code_for(ID, PHONE).await;
    assert_eq!(
        verifier.confirm(ID, PHONE, &code).await.status,
        StatusCode::OK
    );
}

async fn a_code_expires_after_five_minutes(mode: RedisMode) {
    let verifier = Verifier::start(mode, &[]).await;
    let code = verifier.code_for(ID, PHONE).await;
    verifier.clock.advance(Duration::from_secs(5 * 60 - 1));
    assert_eq!(
        verifier.confirm(ID, PHONE, &code).await.status,
        StatusCode::OK
    );
    let code = verifier.code_for(ID, PHONE).await;
    verifier.clock.advance(Duration::from_secs(5 * 60));
    let expired = verifier.confirm(ID, PHONE, &code).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.body,
        verifier.confirm(ID, PHONE, &wrong(&code)).await.body,
        "expired and wrong are one answer"
    );
}

async fn a_phone_gets_three_codes_an_hour(mode: RedisMode) {
    let verifier = Verifier::start(mode, &[]).await;
    for who in [ID, OTHER_IDS[0], ID] {
        verifier.code_for(who, PHONE).await;
    }
    verifier.clock.advance(Duration::from_secs(30 * 60));
    let fourth = verifier.ask(OTHER_IDS[1], PHONE).await;
    assert_eq!(
        fourth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        fourth.body
    );
    assert_eq!(fourth.error_code(), "too_many_requests");
    assert_eq!(retry_after(&fourth), 30 * 60);
    assert_eq!(verifier.lines_sent(), 3, "the fourth was not sent");
    assert_eq!(
        verifier.ask(OTHER_IDS[1], OTHER_PHONE).await.status,
        StatusCode::ACCEPTED,
        "another phone has its own three"
    );
    verifier.clock.advance(Duration::from_secs(30 * 60));
    assert_eq!(
        verifier.ask(OTHER_IDS[1], PHONE).await.status,
        StatusCode::ACCEPTED,
        "the first code left the hour"
    );
}

async fn a_phone_proves_a_limited_number_of_ids_a_day(mode: RedisMode) {
    let verifier = Verifier::start(mode, &[("IDENTITY_IDS_PER_PHONE", "2")]).await;
    // Three codes asked for at once: the limit holds when they are confirmed.
    let mut codes = Vec::new();
    for who in [ID, OTHER_IDS[0], OTHER_IDS[1]] {
        codes.push(verifier.code_for(who, PHONE).await);
    }
    assert_eq!(
        verifier.confirm(ID, PHONE, &codes[0]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        verifier
            .confirm(OTHER_IDS[0], PHONE, &codes[1])
            .await
            .status,
        StatusCode::OK
    );
    let third = verifier.confirm(OTHER_IDS[1], PHONE, &codes[2]).await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        third.body
    );
    assert_eq!(third.error_code(), "too_many_ids_for_phone");
    assert_eq!(retry_after(&third), 24 * 3600);

    // Later, a new ID gets no code at all; an ID the phone proved already does.
    verifier.clock.advance(Duration::from_secs(3600));
    let asked = verifier.ask(OTHER_IDS[2], PHONE).await;
    assert_eq!(
        asked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        asked.body
    );
    assert_eq!(asked.error_code(), "too_many_ids_for_phone");
    assert_eq!(retry_after(&asked), 23 * 3600);
    let again = verifier.code_for(ID, PHONE).await;
    assert_eq!(
        verifier.confirm(ID, PHONE, &again).await.status,
        StatusCode::OK
    );
    assert_eq!(
        verifier.ask(OTHER_IDS[2], OTHER_PHONE).await.status,
        StatusCode::ACCEPTED,
        "the limit is the phone's, not the ID's"
    );

    // A day after the first two were proven, one of them left the window.
    verifier.clock.advance(Duration::from_secs(23 * 3600));
    let code = verifier.code_for(OTHER_IDS[2], PHONE).await;
    assert_eq!(
        verifier.confirm(OTHER_IDS[2], PHONE, &code).await.status,
        StatusCode::OK
    );
}

async fn redis_and_logs_hold_no_code_phone_or_id(mode: RedisMode) {
    let verifier = Verifier::start(mode, &[]).await;
    let captured = Captured::default();
    let writer = captured.clone();
    let settings = LogSettings {
        level: "debug".into(),
        json: true,
    };
    let subscriber = telemetry::subscriber(&settings, move || writer.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let code = verifier.code_for(ID, PHONE).await;
    let wrong = wrong(&code);
    assert_eq!(
        verifier.confirm(ID, PHONE, &wrong).await.status,
        StatusCode::UNAUTHORIZED
    );
    let contents = verifier.contents().await;
    assert!(contents.len() >= 2, "{contents:?}");
    let confirmed = verifier.confirm(ID, PHONE, &code).await;
    assert_eq!(confirmed.status, StatusCode::OK);
    let contents = [contents, verifier.contents().await].concat();
    for (key, ttl, value) in &contents {
        assert!(*ttl > 0, "{key} expires (PTTL {ttl})");
        for secret in [code.as_str(), wrong.as_str(), PHONE_DIGITS, ID] {
            assert!(
                !key.contains(secret) && !value.contains(secret),
                "{key} = {value} holds {secret}"
            );
        }
    }
    let logs = captured.text();
    assert!(
        logs.contains("phone verified"),
        "the steps are logged: {logs}"
    );
    for secret in [code.as_str(), wrong.as_str(), PHONE_DIGITS, ID] {
        assert!(!logs.contains(secret), "the logs show {secret}: {logs}");
    }
}

async fn bad_input_names_the_field_and_changes_nothing(mode: RedisMode) {
    let verifier = Verifier::start(mode, &[]).await;
    let cases = [
        (
            "/verification",
            json!({"mysejahteraId": "900132015527", "phoneNumber": PHONE}),
            "mysejahteraId",
        ),
        (
            "/verification",
            json!({"mysejahteraId": ID, "phoneNumber": "012-345 6789"}),
            "phoneNumber",
        ),
        ("/verification", json!({"mysejahteraId": ID}), "phoneNumber"),
        (
            "/verification",
            json!({"mysejahteraId": ID, "phoneNumber": PHONE, "code": "123456"}),
            "code",
        ),
        (
            "/verification/confirm",
            json!({"mysejahteraId": ID, "phoneNumber": PHONE, "code": "12345"}),
            "code",
        ),
        (
            "/verification/confirm",
            json!({"mysejahteraId": ID, "phoneNumber": PHONE, "code": 123456}),
            "code",
        ),
        (
            "/verification/confirm",
            json!({"mysejahteraId": "nobody", "phoneNumber": PHONE, "code": "123456"}),
            "mysejahteraId",
        ),
        (
            "/verification/confirm",
            json!({"mysejahteraId": ID, "phoneNumber": "+", "code": "123456"}),
            "phoneNumber",
        ),
    ];
    for (path, body, field) in cases {
        let refused = verifier.post(path, body.clone()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{path} {body}");
        assert_eq!(refused.error_code(), "invalid_field", "{path} {body}");
        assert_eq!(refused.body["field"], field, "{path} {body}");
    }
    let not_json = verifier
        .function
        .handle(request(Method::POST, "/verification", "{"))
        .await;
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let get = verifier
        .function
        .handle(request(Method::GET, "/verification", ""))
        .await;
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(verifier.contents().await.is_empty(), "nothing written");
    assert_eq!(verifier.lines_sent(), 0, "nothing sent");
}

/// What moto's SNS holds of the SMS it was asked to send: `(phone number, message)`.
async fn moto_sms(port: u16) -> Vec<(String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let ask = "GET /moto-api/data.json HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
    stream.write_all(ask.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let (_, body) = reply.split_once("\r\n\r\n").expect("an HTTP answer");
    let data: serde_json::Value = serde_json::from_str(body).expect("moto's model data");
    data["sns"]["SMS"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|sms| {
                    (
                        sms["phone_number"].as_str().unwrap().to_owned(),
                        sms["message"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `OTP_SENDER=sns` as deployed, against moto's SNS: the SMS goes to the number in its
/// international form and carries the code that confirms.
#[tokio::test]
async fn the_sns_sender_publishes_the_code_as_an_sms() {
    let moto = ServerProcess::moto();
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let verifier = Verifier::start(
        RedisMode::Single,
        &[
            ("OTP_SENDER", "sns"),
            ("AWS_REGION", "ap-southeast-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "test-secret"),
            ("AWS_ENDPOINT_URL_SNS", &endpoint),
        ],
    )
    .await;
    assert_eq!(verifier.ask(ID, PHONE).await.status, StatusCode::ACCEPTED);
    let sent = moto_sms(moto.port).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (number, message) = &sent[0];
    assert_eq!(number, "+60123456789");
    let code: String = message.chars().take(6).collect();
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{message}");
    assert_eq!(verifier.lines_sent(), 0, "nothing in the file");
    let confirmed = verifier.confirm(ID, PHONE, &code).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);

    // SNS down: the caller hears so, and nothing claims a code was sent.
    drop(moto);
    let refused = verifier.ask(ID, OTHER_PHONE).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.error_code(), "code_not_sent");
}

in_both_modes!(
    a_code_gives_a_token_for_that_id_only,
    five_wrong_codes_lock_the_pair_for_fifteen_minutes,
    a_code_expires_after_five_minutes,
    a_phone_gets_three_codes_an_hour,
    a_phone_proves_a_limited_number_of_ids_a_day,
    redis_and_logs_hold_no_code_phone_or_id,
    bad_input_names_the_field_and_changes_nothing,
);

/// `IDENTITY=otp` end to end: the token `POST /verification/confirm` gives is what every act for
/// that person takes, and only for that person; an identity provider's token, or none, is 401.
#[tokio::test]
async fn under_identity_otp_the_confirmed_token_acts_for_its_id_only() {
    use crate::identity_jwt::{Act, EVERY_ACT, act, claims, open_room, rs256};
    const KEY: &str = "integration tests' identity token key";
    let verifier = Verifier::start(RedisMode::Single, &[("IDENTITY_TOKEN_KEY", KEY)]).await;
    let app = crate::helpers::spawn_app_in(
        crate::helpers::AppOptions::default(),
        &[("IDENTITY", "otp"), ("IDENTITY_TOKEN_KEY", KEY)],
    )
    .await;
    app.seed(3, &[("PWTC", 10), ("UM", 10)]).await;
    open_room(&app).await;
    let token_for = |id: &'static str| {
        let verifier = &verifier;
        async move {
            let code = verifier.code_for(id, PHONE).await;
            let confirmed = verifier.confirm(id, PHONE, &code).await;
            assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
            confirmed.body["identityToken"].as_str().unwrap().to_owned()
        }
    };
    let own = token_for(ID).await;
    let others = token_for(OTHER_IDS[0]).await;

    let before = app.snapshot().await;
    for (what, token) in [
        ("no token", None),
        ("an identity provider's token", Some(rs256(&claims(ID)))),
        ("a token cut short", Some(own[..own.len() - 2].to_owned())),
    ] {
        for step in [Act::Book, Act::Queue] {
            let (status, code) = act(&app, step, ID, None, token.as_deref()).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "{what}, {step:?}"
            );
        }
    }
    let (status, code) = act(&app, Act::Book, ID, None, Some(&others)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "identity_mismatch"),
        "another person's confirmed token"
    );
    assert_eq!(app.snapshot().await, before, "nothing was booked or queued");

    let body = crate::helpers::booking_json(ID, "PWTC", "20210516");
    let booked: TestResponse = app
        .create_booking
        .handle(with_token(request(Method::POST, "/booking", body), &own))
        .await
        .into();
    assert_eq!(booked.status, StatusCode::CREATED, "{:?}", booked.body);
    let reference = booked.body["bookingReference"].as_str().unwrap().to_owned();
    for step in EVERY_ACT {
        if matches!(step, Act::Book) {
            continue;
        }
        let (status, code) = act(&app, step, ID, Some(&reference), Some(&others)).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "identity_mismatch"),
            "{step:?} with the reference and another person's token"
        );
    }
    for (step, expected) in [
        (Act::Read, StatusCode::OK),
        (Act::Move, StatusCode::OK),
        (Act::Queue, StatusCode::CREATED),
        (Act::Cancel, StatusCode::OK),
    ] {
        let (status, code) = act(&app, step, ID, Some(&reference), Some(&own)).await;
        assert_eq!(status, expected, "{step:?} with the owner's token: {code}");
    }
}

fn with_token(mut request: lambda_http::Request, token: &str) -> lambda_http::Request {
    request
        .headers_mut()
        .insert("x-identity-token", token.parse().unwrap());
    request
}
