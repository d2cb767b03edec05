//! Only the person who booked can read or cancel the booking: the booking reference, through
//! the HTTP handlers on a real redis-server and broker.
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use booking_core::domain::{BookingReference, MySejahteraId, ReferenceNonce};
use booking_core::ownership::BookingReferences;
use booking_runtime::telemetry::{self, LogSettings};
use lambda_http::http::StatusCode;
use redis::AsyncCommands;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{
    AppOptions, Captured, RedisMode, TestApp, TestResponse, booking_json, exact, read_topic,
    spawn_app_with,
};
use crate::helpers::{booking_key_of, outbox_key_of, owner_key_of};

const ID: &str = "900127015527";
const OTHER: &str = "880412105531";

async fn seeded(mode: RedisMode) -> TestApp {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(2, &[("PWTC", 10)]).await;
    app
}

fn bearer(reference: &str) -> String {
    format!("Bearer {reference}")
}

/// A well-formed reference nobody was given.
fn random_reference() -> String {
    let nonce = ReferenceNonce::random().unwrap();
    BookingReferences::new(b"some key nobody uses".to_vec())
        .reference(&MySejahteraId::parse(ID).unwrap(), &nonce)
        .expose()
        .to_owned()
}

fn reference_of(response: &TestResponse) -> String {
    response.body["bookingReference"]
        .as_str()
        .unwrap_or_else(|| panic!("no bookingReference in {}", response.body))
        .to_owned()
}

fn assert_unauthorized(response: &TestResponse, what: &str) {
    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(response.error_code(), "unauthorized", "{what}");
    assert_eq!(response.headers["www-authenticate"], "Bearer", "{what}");
}

async fn a_booking_is_read_and_cancelled_only_with_its_reference(mode: RedisMode) {
    let app = seeded(mode).await;
    let created = app.book(ID, "PWTC", "20210516").await;
    assert_eq!(created.status, StatusCode::CREATED);
    let reference = reference_of(&created);
    assert_eq!(
        reference.len(),
        BookingReference::GROUPED_LEN,
        "{reference}"
    );
    assert!(
        BookingReference::parse(&reference).is_some(),
        "six groups of four Crockford symbols, 120 bits: {reference}"
    );
    let other = reference_of(&app.book(OTHER, "PWTC", "20210516").await);
    let before = app.snapshot().await;

    // No header, or one that is not a bearer booking reference: 401, nothing looked up.
    let malformed = [
        None,
        Some("".to_owned()),
        Some(reference.clone()),
        Some(format!("Basic {reference}")),
        Some(format!("Bearer {}", &reference[..20])),
        Some("Bearer ../../etc/passwd".to_owned()),
    ];
    for authorization in &malformed {
        let what = format!("{authorization:?}");
        assert_unauthorized(
            &app.get_booking_as(ID, authorization.as_deref()).await,
            &what,
        );
        assert_unauthorized(
            &app.cancel_booking_as(ID, authorization.as_deref()).await,
            &what,
        );
    }

    // Another booking's reference, a random one, and no booking at all: one and the same 404.
    let nobody = "700101015500";
    let not_found = [
        app.get_booking_as(ID, Some(&bearer(&other))).await,
        app.get_booking_as(ID, Some(&bearer(&random_reference())))
            .await,
        app.get_booking_as(nobody, Some(&bearer(&reference))).await,
        app.cancel_booking_as(ID, Some(&bearer(&other))).await,
        app.cancel_booking_as(ID, Some(&bearer(&random_reference())))
            .await,
        app.cancel_booking_as(nobody, Some(&bearer(&reference)))
            .await,
    ];
    for response in &not_found {
        assert_eq!(response.status, StatusCode::NOT_FOUND);
        assert_eq!(response.error_code(), "booking_not_found");
        assert_eq!(exact(response), exact(&not_found[0]), "byte-identical");
    }
    assert_eq!(app.snapshot().await, before, "refused calls change nothing");

    // The right reference reads the booking (never echoing the reference) and cancels it.
    let found = app.get_booking_as(ID, Some(&bearer(&reference))).await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.body["mysejahteraId"], ID);
    assert!(
        found.body.get("bookingReference").is_none(),
        "{}",
        found.body
    );
    assert!(!found.body.to_string().contains(&reference));
    let cancelled = app.cancel_booking_as(ID, Some(&bearer(&reference))).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert!(!cancelled.body.to_string().contains(&reference));
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(9));

    // The old reference is dead.
    let gone = app.get_booking_as(ID, Some(&bearer(&reference))).await;
    assert_eq!(exact(&gone), exact(&not_found[0]));
    let again = app.cancel_booking_as(ID, Some(&bearer(&reference))).await;
    assert_eq!(exact(&again), exact(&not_found[0]));

    // A rebook gets a new reference; the old one never reaches the new booking.
    let rebooked = app.book(ID, "PWTC", "20210517").await;
    assert_eq!(rebooked.status, StatusCode::CREATED);
    let new_reference = reference_of(&rebooked);
    assert_ne!(new_reference, reference);
    for response in [
        app.get_booking_as(ID, Some(&bearer(&reference))).await,
        app.cancel_booking_as(ID, Some(&bearer(&reference))).await,
    ] {
        assert_eq!(exact(&response), exact(&not_found[0]));
    }
    let found = app.get_booking_as(ID, Some(&bearer(&new_reference))).await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.body["date"], "20210517");
    // The other person's booking was never touched.
    let theirs = app.get_booking_as(OTHER, Some(&bearer(&other))).await;
    assert_eq!(theirs.status, StatusCode::OK);
}

in_both_modes!(a_booking_is_read_and_cancelled_only_with_its_reference);

async fn a_retry_shows_the_reference_for_fifteen_minutes_only(mode: RedisMode) {
    let app = seeded(mode).await;
    let body = booking_json(ID, "PWTC", "20210516");
    let created = app.post_booking(body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let reference = reference_of(&created);

    app.clock.advance(Duration::from_secs(14 * 60));
    let retry = app.post_booking(body.clone()).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(
        reference_of(&retry),
        reference,
        "a lost 201 is not a lockout"
    );

    app.clock.advance(Duration::from_secs(2 * 60));
    let late = app.post_booking(body.clone()).await;
    assert_eq!(late.status, StatusCode::OK);
    assert!(late.body.get("bookingReference").is_none(), "{}", late.body);
    let mut expected: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(late.body, expected);
    expected["bookingReference"] = Value::String(reference.clone());
    assert_eq!(created.body, expected);

    // The reference still works after the window: only showing it again ends.
    let found = app.get_booking_as(ID, Some(&bearer(&reference))).await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(9));
}

in_both_modes!(a_retry_shows_the_reference_for_fifteen_minutes_only);

/// Every key and value in the private Redis, as a plain client reads them.
async fn everything_in_redis(app: &TestApp) -> Vec<(String, String)> {
    let mut connection = app.connection.clone();
    let keys: Vec<String> = connection.keys("*").await.unwrap();
    let mut values = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        let value = match kind.as_str() {
            "string" => connection.get::<_, String>(&key).await.unwrap(),
            "hash" => format!(
                "{:?}",
                connection
                    .hgetall::<_, Vec<(String, String)>>(&key)
                    .await
                    .unwrap()
            ),
            "set" => format!(
                "{:?}",
                connection.smembers::<_, Vec<String>>(&key).await.unwrap()
            ),
            "stream" => format!(
                "{:?}",
                redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query_async::<redis::Value>(&mut connection)
                    .await
                    .unwrap()
            ),
            other => panic!("{key} is a {other}, which this test does not read"),
        };
        values.push((key, value));
    }
    values
}

/// What a reference proves: the bytes of the MAC it stands for.
fn proof(reference: &str) -> Vec<u8> {
    BookingReference::parse(reference)
        .expect("an issued reference")
        .proof()
        .to_vec()
}

/// Forms a reference could be written in.
fn encodings(reference: &str) -> Vec<String> {
    let bytes = proof(reference);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        reference.to_owned(),
        reference.replace('-', ""),
        hex.clone(),
        hex.to_uppercase(),
        STANDARD.encode(&bytes),
        URL_SAFE_NO_PAD.encode(&bytes),
    ]
}

async fn redis_holds_nothing_that_gives_or_checks_a_reference_without_the_key(mode: RedisMode) {
    let app = seeded(mode).await;
    // The broker is down, so the booking event stays in the outbox stream for this test to read.
    let mut app = app;
    app.broker.stop();
    let created = app.book(ID, "PWTC", "20210516").await;
    assert_eq!(created.status, StatusCode::CREATED);
    let reference = reference_of(&created);
    let reference_bytes = proof(&reference);

    let stored = everything_in_redis(&app).await;
    let keys: Vec<&str> = stored.iter().map(|(key, _)| key.as_str()).collect();
    assert!(keys.contains(&booking_key_of(ID).as_str()), "{keys:?}");
    assert!(keys.contains(&owner_key_of(ID).as_str()), "{keys:?}");
    assert!(keys.contains(&outbox_key_of(ID).as_str()), "{keys:?}");
    for (key, value) in &stored {
        for form in encodings(&reference) {
            assert!(!key.contains(&form), "{key} names the reference");
            assert!(!value.contains(&form), "{key} holds the reference: {value}");
        }
        // Nor an unkeyed hash of it, which would let anyone check a guess.
        let digest: String = Sha256::digest(reference.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            !value.contains(&digest),
            "{key} holds SHA-256 of the reference"
        );
    }

    // What the store does hold about the booking's owner: a nonce and a time. Together with the
    // ID they give the reference only under the server-side key.
    let mut connection = app.connection.clone();
    let nonce: String = connection
        .hget(owner_key_of("900127015527"), "nonce")
        .await
        .unwrap();
    let nonce = ReferenceNonce::from_hex(&nonce).expect("32 hex digits");
    let id = MySejahteraId::parse(ID).unwrap();
    let with_key = crate::helpers::test_references().reference(&id, &nonce);
    assert_eq!(with_key.expose(), reference, "derived with the key");
    let without_key = [
        BookingReferences::new(Vec::new()).reference(&id, &nonce),
        BookingReferences::new(b"guess".to_vec()).reference(&id, &nonce),
    ];
    for guess in without_key {
        assert_ne!(guess.expose(), reference);
    }
    for unkeyed in [
        Sha256::digest([ID.as_bytes(), nonce.as_bytes()].concat()).to_vec(),
        Sha256::digest(nonce.as_bytes()).to_vec(),
        Sha256::digest(nonce.to_hex().as_bytes()).to_vec(),
    ] {
        assert_ne!(unkeyed, reference_bytes);
    }
}

in_both_modes!(redis_holds_nothing_that_gives_or_checks_a_reference_without_the_key);

async fn a_reference_appears_in_no_log_metric_or_event(mode: RedisMode) {
    let handle = ::local_api::prometheus().expect("the only recorder here");
    let app = seeded(mode).await;
    let captured = Captured::default();
    let writer = captured.clone();
    // Everything our code logs, at the most verbose level an operator could set.
    let settings = LogSettings {
        level: "trace".into(),
        json: true,
    };
    let _logs =
        tracing::subscriber::set_default(telemetry::subscriber(&settings, move || writer.clone()));

    let created = app.book(ID, "PWTC", "20210516").await;
    let reference = reference_of(&created);
    let retry = app.book(ID, "PWTC", "20210516").await;
    assert_eq!(reference_of(&retry), reference);
    let good = bearer(&reference);
    let wrong = bearer(&random_reference());
    assert_eq!(app.get_booking_as(ID, Some(&good)).await.status, 200);
    assert_eq!(app.get_booking_as(ID, Some(&wrong)).await.status, 404);
    assert_eq!(app.cancel_booking_as(ID, Some(&wrong)).await.status, 404);
    // A reference sent with a wrong scheme is still the reference: it must not be echoed.
    let refused = app
        .get_booking_as(ID, Some(&format!("Basic {reference}")))
        .await;
    assert_eq!(refused.status, 401);
    assert!(!refused.body.to_string().contains(&reference));
    assert_eq!(app.cancel_booking_as(ID, Some(&good)).await.status, 200);

    let events = read_topic(&app.broker, 2).await;
    assert_eq!(events.len(), 2, "booking.created and booking.cancelled");
    let logs = captured.text();
    assert!(
        logs.contains("booking cancelled"),
        "the capture works: {logs}"
    );
    handle.run_upkeep();
    let metrics = handle.render();
    assert!(metrics.contains("bookings_cancelled"), "{metrics}");
    for form in encodings(&reference) {
        assert!(
            !logs.contains(&form),
            "a log line holds the reference:\n{logs}"
        );
        assert!(!metrics.contains(&form), "metrics hold the reference");
        for event in &events {
            assert!(!event.key.contains(&form));
            assert!(!event.value.to_string().contains(&form), "{}", event.value);
        }
    }
    // The events keep their shape: the booking and nothing about its owner.
    for event in &events {
        let fields: Vec<&String> = event.value["booking"].as_object().unwrap().keys().collect();
        assert_eq!(fields.len(), 7, "{fields:?}");
        let mut top: Vec<&str> = event
            .value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        top.sort_unstable();
        assert_eq!(
            top,
            ["booking", "eventId", "occurredAt", "sequence", "type"],
            "nothing about the owner"
        );
    }
}

in_both_modes!(a_reference_appears_in_no_log_metric_or_event);

async fn the_cancel_script_removes_only_the_booking_whose_nonce_was_verified(mode: RedisMode) {
    use booking_core::domain::EventStamp;
    use booking_core::ports::BookingStore;

    let app = seeded(mode).await;
    let id = MySejahteraId::parse(ID).unwrap();
    let owner_nonce = |app: &TestApp| {
        let mut connection = app.connection.clone();
        async move {
            let hex: String = connection
                .hget(owner_key_of("900127015527"), "nonce")
                .await
                .unwrap();
            ReferenceNonce::from_hex(&hex).unwrap()
        }
    };
    let old = reference_of(&app.book(ID, "PWTC", "20210516").await);
    let checked = owner_nonce(&app).await;
    // Between the reference check and the cancel, the booking is cancelled and made again.
    assert_eq!(
        app.cancel_booking_as(ID, Some(&bearer(&old))).await.status,
        200
    );
    let new = reference_of(&app.book(ID, "PWTC", "20210517").await);
    let before = app.snapshot().await;

    let stamp = EventStamp::new(std::time::SystemTime::now());
    let removed = app.store.cancel(&id, &stamp, &checked).await.unwrap();

    assert_eq!(removed, None, "the newer booking has another nonce");
    assert_eq!(app.snapshot().await, before, "and is left as it was");
    let found = app.get_booking_as(ID, Some(&bearer(&new))).await;
    assert_eq!(found.body["date"], "20210517");
    assert_ne!(owner_nonce(&app).await, checked);
}

in_both_modes!(the_cancel_script_removes_only_the_booking_whose_nonce_was_verified);
