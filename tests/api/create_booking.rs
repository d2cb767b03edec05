use std::sync::Arc;

use lambda_http::http::StatusCode;
use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::helpers::booking_json;
use crate::helpers::booking_key_of;
use crate::helpers::person_id;
use crate::helpers::{AppOptions, RedisMode, spawn_app_with};

async fn a_booking_is_stored_and_takes_one_slot(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(2, &[("PWTC", 10)]).await;

    let response = app.book("900127015527", "PWTC", "20210516").await;

    assert_eq!(response.status, StatusCode::CREATED);
    let expected: Value =
        serde_json::from_str(&booking_json("900127015527", "PWTC", "20210516")).unwrap();
    // The stored booking, plus the booker's reference (tests/api/ownership.rs checks it).
    let mut body = response.body.clone();
    let reference = body.as_object_mut().unwrap().remove("bookingReference");
    assert!(reference.is_some_and(|r| r.is_string()));
    assert_eq!(body, expected);
    assert_eq!(response.headers["location"], "/booking/900127015527");
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(9));
    assert_eq!(app.remaining("PWTC", "20210517").await, Some(10));
    let mut connection = app.connection.clone();
    let stored: String = connection
        .get(booking_key_of("900127015527"))
        .await
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&stored).unwrap(), expected);
}

in_both_modes!(a_booking_is_stored_and_takes_one_slot);

async fn two_thousand_people_racing_for_a_hundred_slots(mode: RedisMode) {
    const PEOPLE: usize = 2000;
    // Timeouts sized for 2,000 requests queued at once on the one connection.
    let app = Arc::new(spawn_app_with(AppOptions::on(mode).concurrent(PEOPLE)).await);
    app.seed(1, &[("PWTC", 100)]).await;

    let attempts: Vec<_> = (0..PEOPLE)
        .map(|i| {
            let app = Arc::clone(&app);
            // As a client must: a 503 confirmed nothing, so the identical request is repeated
            // until it is decided (not a fixed number of times: how often the store's timeout
            // fires mid-rush depends on how busy the machine is).
            tokio::spawn(async move { app.book_patiently(&person_id(i), "PWTC", "20210516").await })
        })
        .collect();
    let (mut created, mut fully_booked, mut other) = (0, 0, Vec::new());
    for attempt in attempts {
        let (response, retried) = attempt.await.unwrap();
        match (response.status, response.error_code()) {
            (StatusCode::CREATED, _) => created += 1,
            // A retry of a booking whose first answer was lost: stored once, answered 200.
            (StatusCode::OK, _) if retried > 0 => created += 1,
            (StatusCode::CONFLICT, "fully_booked") => fully_booked += 1,
            (status, code) => other.push((status, code.to_owned())),
        }
    }

    assert_eq!(other, vec![]);
    assert_eq!(created, 100);
    assert_eq!(fully_booked, 1900);
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(0));
    assert_eq!(app.count_keys("booking:*").await, 100);
}

in_both_modes!(two_thousand_people_racing_for_a_hundred_slots);

async fn one_booking_per_person_and_identical_retries_are_safe(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(2, &[("PWTC", 10), ("UM", 10)]).await;
    assert_eq!(
        app.book("900127015527", "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    let before = app.snapshot().await;

    // The same request again (a client retrying after a timeout): 200, same booking, no change.
    let retry = app.book("900127015527", "PWTC", "20210516").await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.body["date"], "20210516");
    assert_eq!(app.snapshot().await, before);

    // Another date, another station, or other details: the person already holds a booking.
    let other_date = app.book("900127015527", "PWTC", "20210517").await;
    let other_station = app.book("900127015527", "UM", "20210516").await;
    let mut changed = json!(
        serde_json::from_str::<Value>(&booking_json("900127015527", "PWTC", "20210516")).unwrap()
    );
    changed["phoneNumber"] = json!("0199999999");
    let other_details = app.post_booking(changed.to_string()).await;
    for response in [other_date, other_station, other_details] {
        assert_eq!(response.status, StatusCode::CONFLICT);
        assert_eq!(response.error_code(), "already_booked");
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "refused bookings change nothing"
    );
}

in_both_modes!(one_booking_per_person_and_identical_retries_are_safe);

async fn a_full_date_refuses_further_bookings(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 1)]).await;
    assert_eq!(
        app.book(&person_id(1), "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    let before = app.snapshot().await;

    let response = app.book(&person_id(2), "PWTC", "20210516").await;

    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.error_code(), "fully_booked");
    assert_eq!(app.snapshot().await, before);
}

in_both_modes!(a_full_date_refuses_further_bookings);

async fn unknown_stations_and_dates_are_not_found(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    let before = app.snapshot().await;
    let cases = [
        (
            booking_json(&person_id(1), "NOPE", "20210516"),
            "station_not_found",
        ),
        (
            booking_json(&person_id(1), "PWTC", "20210517"),
            "date_not_found",
        ),
    ];
    for (body, code) in cases {
        let response = app.post_booking(body).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND);
        assert_eq!(response.error_code(), code);
    }
    assert_eq!(app.snapshot().await, before);
}

in_both_modes!(unknown_stations_and_dates_are_not_found);

fn with(field: &str, value: Value) -> String {
    let mut body: Value =
        serde_json::from_str(&booking_json("900127015527", "PWTC", "20210516")).unwrap();
    body[field] = value;
    body.to_string()
}

fn without(field: &str) -> String {
    let mut body: Value =
        serde_json::from_str(&booking_json("900127015527", "PWTC", "20210516")).unwrap();
    body.as_object_mut().unwrap().remove(field);
    body.to_string()
}

async fn invalid_requests_name_the_field_and_change_nothing(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    let before = app.snapshot().await;
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let cases: Vec<(String, Option<&str>)> = vec![
        (without("mysejahteraId"), Some("mysejahteraId")),
        (with("mysejahteraId", json!("")), Some("mysejahteraId")),
        (
            with("mysejahteraId", json!("booking:someone")),
            Some("mysejahteraId"),
        ),
        (
            with("mysejahteraId", json!("x".repeat(65))),
            Some("mysejahteraId"),
        ),
        (
            with("mysejahteraId", json!(900127015527_u64)),
            Some("mysejahteraId"),
        ),
        // Not a MyKad number: made up, no such birth date, no such birthplace code, a hyphen
        // out of place; a passport of Malaysia (Malaysians book with their MyKad).
        (with("mysejahteraId", json!("A1")), Some("mysejahteraId")),
        (
            with("mysejahteraId", json!("900230015527")),
            Some("mysejahteraId"),
        ),
        (
            with("mysejahteraId", json!("900127205527")),
            Some("mysejahteraId"),
        ),
        (
            with("mysejahteraId", json!("900127-015527")),
            Some("mysejahteraId"),
        ),
        (
            with("mysejahteraId", json!("P-MYS-A1234567")),
            Some("mysejahteraId"),
        ),
        (with("firstName", json!("  ")), Some("firstName")),
        (with("lastName", json!(null)), Some("lastName")),
        (with("lastName", json!("a\u{0}b")), Some("lastName")),
        (with("address", json!("x".repeat(301))), Some("address")),
        // Bidi override, zero-width space, line separator: hidden text in a name or address.
        (
            with("firstName", json!("Fadhil\u{202e}")),
            Some("firstName"),
        ),
        (with("lastName", json!("Yaa\u{200b}cob")), Some("lastName")),
        (
            with("address", json!("Kuala\u{2028}Lumpur")),
            Some("address"),
        ),
        (with("location", json!("PW TC")), Some("location")),
        (with("location", json!("{PWTC}")), Some("location")),
        (with("phoneNumber", json!("call me")), Some("phoneNumber")),
        (with("date", json!("20210230")), Some("date")),
        (with("date", json!("2021-05-16")), Some("date")),
        (with("date", json!(20210516)), Some("date")),
        (with("mysejahteraID", json!("typo")), Some("mysejahteraID")),
        // A repeated key: whichever copy a reader keeps, another reader may keep the other.
        (
            booking_json("900127015527", "PWTC", "20210516").replacen(
                '{',
                r#"{"mysejahteraId":"880412105531","#,
                1,
            ),
            Some("mysejahteraId"),
        ),
        (
            booking_json("900127015527", "PWTC", "20210516").replacen(
                '}',
                r#","date":"20210516"}"#,
                1,
            ),
            Some("date"),
        ),
        ("{".into(), None),
        ("[]".into(), None),
        ("\"booking\"".into(), None),
        (String::new(), None),
        (deep, None),
    ];
    for (body, field) in cases {
        let response = app.post_booking(body.clone()).await;
        let shown: String = body.chars().take(80).collect();
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{shown}");
        match field {
            Some(field) => {
                assert_eq!(response.error_code(), "invalid_field", "{shown}");
                assert_eq!(response.body["field"], field, "{shown}");
            }
            None => assert_eq!(response.error_code(), "malformed_json", "{shown}"),
        }
    }
    let invalid_utf8 = app.post_booking(vec![b'{', 0xff, 0xfe, b'}']).await;
    assert_eq!(invalid_utf8.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.snapshot().await, before);
}

in_both_modes!(invalid_requests_name_the_field_and_change_nothing);

async fn oversized_bodies_and_other_media_types_are_refused(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    let before = app.snapshot().await;

    let huge = with("address", json!("x".repeat(20_000)));
    let response = app.post_booking(huge).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.error_code(), "payload_too_large");

    let mut request = crate::helpers::request(
        lambda_http::http::Method::POST,
        "/booking",
        booking_json(&person_id(1), "PWTC", "20210516"),
    );
    request
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    let response: crate::helpers::TestResponse =
        booking_http::create_booking(app.bookings(), request)
            .await
            .into();
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // No Content-Type at all: the contract asks for application/json, so 415 too.
    let mut request = crate::helpers::request(
        lambda_http::http::Method::POST,
        "/booking",
        booking_json(&person_id(1), "PWTC", "20210516"),
    );
    request.headers_mut().remove("content-type");
    let response: crate::helpers::TestResponse =
        booking_http::create_booking(app.bookings(), request)
            .await
            .into();
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.error_code(), "unsupported_media_type");

    assert_eq!(app.snapshot().await, before);
}

in_both_modes!(oversized_bodies_and_other_media_types_are_refused);

async fn a_retry_normalised_differently_is_still_the_identical_booking(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    // "é" as e + combining accent (NFD, as some keyboards send it), then as one character.
    let decomposed = with("firstName", json!("Zoe\u{301}"));
    let composed = with("firstName", json!("Zo\u{e9}"));

    // One attempt, so one Idempotency-Key, though the retry's bytes differ.
    let key = Some(&b"attempt-1"[..]);
    let first = app.post_booking_with_key(decomposed, key).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.body["firstName"], "Zo\u{e9}", "stored in NFC");
    let before = app.snapshot().await;

    let retry = app.post_booking_with_key(composed, key).await;

    assert_eq!(retry.status, StatusCode::OK, "{:?}", retry.body);
    assert_eq!(retry.body, first.body);
    assert_eq!(app.snapshot().await, before, "nothing changed");
}

in_both_modes!(a_retry_normalised_differently_is_still_the_identical_booking);

/// The printed MyKad form and a passport in any case are one person each: a second booking
/// through a variant of the ID is refused, and the variant reads the one booking.
async fn variants_of_one_id_are_one_person_with_one_booking(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(2, &[("PWTC", 10)]).await;
    for (first, variants, stored) in [
        (
            "900127-01-5527",
            ["900127015527", "900127-01-5527"],
            "900127015527",
        ),
        (
            "p-idn-a1234567",
            ["P-IDN-A1234567", "P-idn-A1234567"],
            "P-IDN-A1234567",
        ),
    ] {
        let booked = app.book(first, "PWTC", "20210516").await;
        assert_eq!(booked.status, StatusCode::CREATED, "{first}");
        assert_eq!(booked.body["mysejahteraId"], stored);
        assert_eq!(
            booked.headers["location"],
            format!("/booking/{stored}").as_str()
        );
        for variant in variants {
            let again = app.book(variant, "PWTC", "20210516").await;
            assert_eq!(
                again.status,
                StatusCode::OK,
                "{variant}: the identical booking"
            );
            let other_date = app.book(variant, "PWTC", "20210517").await;
            assert_eq!(other_date.status, StatusCode::CONFLICT, "{variant}");
            assert_eq!(other_date.error_code(), "already_booked", "{variant}");
            let read = app
                .get_booking_as(variant, app.owner_authorization(stored).as_deref())
                .await;
            assert_eq!(read.status, StatusCode::OK, "{variant}");
            assert_eq!(read.body["mysejahteraId"], stored);
        }
    }
    assert_eq!(app.count_keys("booking:*").await, 2);
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(8));
    assert_eq!(app.remaining("PWTC", "20210517").await, Some(10));
}

in_both_modes!(variants_of_one_id_are_one_person_with_one_booking);
