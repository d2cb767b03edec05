//! `POST /booking` tells nobody whether an ID holds a booking (issue 23): what the answers may
//! depend on, through the HTTP handlers on a real Redis and a Redis Cluster.
use booking_core::domain::{IdempotencyKey, MySejahteraId};
use lambda_http::http::{Method, StatusCode};
use redis::AsyncCommands;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{
    AppOptions, RedisMode, TestApp, booking_json, exact, person_id, request, spawn_app_with,
    test_references,
};

/// The location probe: an unknown station, an unknown date and a full date, asked for an ID
/// that holds a booking and for one that does not, get the same status, headers and body,
/// and change nothing.
async fn an_unknown_or_full_date_answers_the_same_for_booked_and_unbooked_ids(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5), ("FULL", 1)]).await;
    let (booked, unbooked) = (person_id(1), person_id(2));
    assert_eq!(
        app.book(&booked, "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.book(&person_id(3), "FULL", "20210516").await.status,
        StatusCode::CREATED,
        "takes FULL's one slot"
    );
    let before = app.snapshot().await;
    let probes = [
        (
            "NOPE",
            "20210516",
            StatusCode::NOT_FOUND,
            "station_not_found",
        ),
        ("PWTC", "20210530", StatusCode::NOT_FOUND, "date_not_found"),
        ("FULL", "20210516", StatusCode::CONFLICT, "fully_booked"),
    ];
    for (location, date, status, code) in probes {
        let of_booked = app.book(&booked, location, date).await;
        let of_unbooked = app.book(&unbooked, location, date).await;
        assert_eq!(
            (of_unbooked.status, of_unbooked.error_code()),
            (status, code),
            "{location} {date}"
        );
        assert_eq!(
            exact(&of_booked),
            exact(&of_unbooked),
            "{location} {date}: the answer must not tell that {booked} holds a booking"
        );
    }
    assert_eq!(app.snapshot().await, before, "probes change nothing");
}

in_both_modes!(an_unknown_or_full_date_answers_the_same_for_booked_and_unbooked_ids);

const KEY: &str = "8e03978e-40d5-43e8-bc93-6894a57f9324";

async fn seeded(mode: RedisMode) -> TestApp {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    app
}

/// The retry leak: whoever knows every field of a person's booking (family, a helper, a leaked
/// form) sends it again within the 15 minutes. They get the 200 a retry gets, but the booking
/// reference only the client that made the booking gets, by its `Idempotency-Key`.
async fn a_retry_shows_the_reference_only_with_the_bookings_idempotency_key(mode: RedisMode) {
    let app = seeded(mode).await;
    let id = person_id(1);
    let body = booking_json(&id, "PWTC", "20210516");
    let created = app
        .post_booking_with_key(body.clone(), Some(KEY.as_bytes()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let reference = created.body["bookingReference"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored: Value = serde_json::from_str(&body).unwrap();
    let before = app.snapshot().await;

    let (quoted, upper) = (format!("\"{KEY}\""), KEY.to_uppercase());
    let strangers: [(&str, Option<&[u8]>); 4] = [
        ("no key", None),
        ("another key", Some(b"another-attempt")),
        ("the key in another form", Some(quoted.as_bytes())),
        ("the key in another case", Some(upper.as_bytes())),
    ];
    for (who, key) in strangers {
        let retry = app.post_booking_with_key(body.clone(), key).await;
        assert_eq!(retry.status, StatusCode::OK, "{who}");
        assert_eq!(
            retry.body, stored,
            "{who}: the booking, without its reference"
        );
    }
    let same = app
        .post_booking_with_key(body.clone(), Some(KEY.as_bytes()))
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(
        same.body["bookingReference"],
        reference.as_str(),
        "a lost 201 is not a lockout"
    );
    assert_eq!(app.snapshot().await, before, "retries change nothing");

    // Redis keeps a digest under the server-side key, never the key or an unkeyed hash of it,
    // and only for the retry window.
    let person = MySejahteraId::parse(&id).unwrap();
    let retry_key = booking_redis::booking_retry_key(&person);
    let mut connection = app.connection.clone();
    let kept: String = connection.get(&retry_key).await.unwrap();
    let key = IdempotencyKey::parse(KEY.as_bytes()).unwrap();
    assert_eq!(
        kept,
        test_references().retry_key_digest(&person, &key).to_hex()
    );
    let unkeyed: String = Sha256::digest(KEY)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!kept.contains(KEY) && kept != unkeyed, "{kept}");
    let ttl: i64 = connection.pttl(&retry_key).await.unwrap();
    assert!(0 < ttl && ttl <= 15 * 60 * 1000, "{ttl} ms");
}

in_both_modes!(a_retry_shows_the_reference_only_with_the_bookings_idempotency_key);

/// A key that is not 1-255 printable ASCII characters (or two of them) is 400 naming the
/// header, for a new booking and for a retry alike, and nothing is written.
async fn a_bad_idempotency_key_is_refused_naming_the_header_and_writes_nothing(mode: RedisMode) {
    let app = seeded(mode).await;
    let booked = booking_json(&person_id(1), "PWTC", "20210516");
    assert_eq!(
        app.post_booking(booked.clone()).await.status,
        StatusCode::CREATED
    );
    let new = booking_json(&person_id(2), "PWTC", "20210516");
    let before = app.snapshot().await;
    let too_long = "k".repeat(256);
    let bad: [&[u8]; 6] = [
        b"",
        b" ",
        too_long.as_bytes(),
        b"tab\there",
        "caf\u{e9}".as_bytes(),
        b"\xff",
    ];
    for body in [&new, &booked] {
        for key in bad {
            let refused = app.post_booking_with_key(body.clone(), Some(key)).await;
            assert_eq!(
                (refused.status, refused.error_code()),
                (StatusCode::BAD_REQUEST, "invalid_field"),
                "{key:?}"
            );
            assert_eq!(refused.body["field"], "Idempotency-Key", "{key:?}");
        }
        let mut twice = request(Method::POST, "/booking", body.clone());
        for key in ["attempt-1", "attempt-2"] {
            twice
                .headers_mut()
                .append("idempotency-key", key.parse().unwrap());
        }
        let refused = app.send_booking(twice).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.body["field"], "Idempotency-Key");
    }
    assert_eq!(app.snapshot().await, before, "nothing written");
}

in_both_modes!(a_bad_idempotency_key_is_refused_naming_the_header_and_writes_nothing);
