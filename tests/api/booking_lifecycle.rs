use std::sync::Arc;

use booking_core::seed::{SeedRequest, StationCapacity};
use lambda_http::http::StatusCode;
use serde_json::Value;

use crate::helpers::{AppOptions, RedisMode, spawn_app_with};
use crate::helpers::{TestApp, booking_json};
use crate::helpers::{booking_key_of, person_id};

fn booking(id: &str, date: &str) -> Value {
    serde_json::from_str(&booking_json(id, "PWTC", date)).unwrap()
}

async fn book_look_up_cancel_and_book_again(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(2, &[("PWTC", 10)]).await;
    let id = "900127015527";

    assert_eq!(
        app.book(id, "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    let found = app.get_booking(id).await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.body, booking(id, "20210516"));
    assert_eq!(found.headers["cache-control"], "no-store");

    let cancelled = app.cancel_booking(id).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.body, booking(id, "20210516"));
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(10));
    assert_eq!(app.count_keys("booking:*").await, 0);

    let gone = app.get_booking(id).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "booking_not_found");

    // Free to book again, even another date.
    let again = app.book(id, "PWTC", "20210517").await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(app.get_booking(id).await.body, booking(id, "20210517"));
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(10));
    assert_eq!(app.remaining("PWTC", "20210517").await, Some(9));
}

in_both_modes!(book_look_up_cancel_and_book_again);

async fn cancelling_twice_is_not_found_and_changes_nothing(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 10)]).await;
    app.book(&person_id(1), "PWTC", "20210516").await;
    app.book(&person_id(2), "PWTC", "20210516").await;
    assert_eq!(
        app.cancel_booking(&person_id(1)).await.status,
        StatusCode::OK
    );
    let before = app.snapshot().await;

    let second = app.cancel_booking(&person_id(1)).await;

    assert_eq!(second.status, StatusCode::NOT_FOUND);
    assert_eq!(second.error_code(), "booking_not_found");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(9));
}

in_both_modes!(cancelling_twice_is_not_found_and_changes_nothing);

async fn a_freed_slot_never_lifts_a_date_above_its_capacity(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 10)]).await;
    for id in [1, 2, 3].map(person_id) {
        app.book(&id, "PWTC", "20210516").await;
    }
    // The operator shrinks the day to one slot while three people hold bookings.
    app.seeder()
        .seed(SeedRequest {
            start_date: Some("20210516".into()),
            days: Some(1),
            stations: Some(vec![StationCapacity::new("PWTC", 1)]),
            reset: Some(true),
        })
        .await
        .unwrap();
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(0));

    // Remaining is max(capacity - held, 0): no slot is free until fewer than one is held.
    for (n, remaining) in [(1, 0), (2, 0), (3, 1)] {
        let id = person_id(n);
        assert_eq!(app.cancel_booking(&id).await.status, StatusCode::OK, "{id}");
        assert_eq!(
            app.remaining("PWTC", "20210516").await,
            Some(remaining),
            "{id}"
        );
    }
}

in_both_modes!(a_freed_slot_never_lifts_a_date_above_its_capacity);

async fn cancelling_on_a_removed_date_still_removes_the_booking(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 10)]).await;
    app.book(&person_id(1), "PWTC", "20210516").await;
    let mut connection = app.connection.clone();
    let _: () = redis::AsyncCommands::hdel(&mut connection, "slots:{PWTC}", "20210516")
        .await
        .unwrap();

    assert_eq!(
        app.cancel_booking(&person_id(1)).await.status,
        StatusCode::OK
    );

    assert_eq!(app.remaining("PWTC", "20210516").await, None);
    assert_eq!(app.count_keys("booking:*").await, 0);
}

in_both_modes!(cancelling_on_a_removed_date_still_removes_the_booking);

/// Bookings held plus slots left must always equal the day's capacity.
async fn assert_conserved(app: &TestApp, capacity: i64) {
    let remaining = app.remaining("PWTC", "20210516").await.unwrap();
    let held = app.count_keys("booking:*").await as i64;
    assert!((0..=capacity).contains(&remaining), "remaining {remaining}");
    assert_eq!(held + remaining, capacity);
}

async fn racing_cancels_and_bookings_on_a_full_date_conserve_slots(mode: RedisMode) {
    const CAPACITY: u32 = 50;
    // Two cancels per holder, 300 newcomers and the watcher at once: timeouts sized for them.
    let app = Arc::new(
        spawn_app_with(AppOptions::on(mode).concurrent(2 * CAPACITY as usize + 300 + 1)).await,
    );
    app.seed(1, &[("PWTC", CAPACITY)]).await;
    for i in 0..CAPACITY {
        let response = app
            .book(&person_id(100 + i as usize), "PWTC", "20210516")
            .await;
        assert_eq!(response.status, StatusCode::CREATED);
    }
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(0));

    let watcher = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..200 {
                seen.push(app.remaining("PWTC", "20210516").await.unwrap());
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    // Every holder cancels twice at once while 300 newcomers try to book.
    let mut cancels = Vec::new();
    for _ in 0..2 {
        for i in 0..CAPACITY {
            let app = Arc::clone(&app);
            cancels.push(tokio::spawn(async move {
                app.cancel_booking(&person_id(100 + i as usize)).await
            }));
        }
    }
    let bookings: Vec<_> = (0..300)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.book(&person_id(1000 + i), "PWTC", "20210516").await })
        })
        .collect();

    let (mut cancelled, mut not_found) = (0, 0);
    for cancel in cancels {
        let response = cancel.await.unwrap();
        match (response.status, response.error_code()) {
            (StatusCode::OK, _) => cancelled += 1,
            (StatusCode::NOT_FOUND, "booking_not_found") => not_found += 1,
            other => panic!("unexpected cancel reply {other:?}"),
        }
    }
    let (mut created, mut fully_booked) = (0, 0);
    for booking in bookings {
        let response = booking.await.unwrap();
        match (response.status, response.error_code()) {
            (StatusCode::CREATED, _) => created += 1,
            (StatusCode::CONFLICT, "fully_booked") => fully_booked += 1,
            other => panic!("unexpected booking reply {other:?}"),
        }
    }

    assert_eq!((cancelled, not_found), (CAPACITY, CAPACITY));
    assert_eq!(created + fully_booked, 300);
    assert!(created <= CAPACITY, "created {created}");
    let seen = watcher.await.unwrap();
    assert!(
        seen.iter().all(|r| (0..=i64::from(CAPACITY)).contains(r)),
        "{seen:?}"
    );
    assert_conserved(&app, CAPACITY.into()).await;
    assert_eq!(
        app.remaining("PWTC", "20210516").await,
        Some(i64::from(CAPACITY - created))
    );
}

in_both_modes!(racing_cancels_and_bookings_on_a_full_date_conserve_slots);

async fn ids_that_could_name_other_keys_are_refused_and_change_nothing(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    app.book("900127015527", "PWTC", "20210516").await;
    let before = app.snapshot().await;
    let cases = [
        ("900127015527:x", StatusCode::BAD_REQUEST, "invalid_field"),
        (
            "booking:900127015527",
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "%7B900127015527%7D",
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        ("*", StatusCode::BAD_REQUEST, "invalid_field"),
        ("9001*", StatusCode::BAD_REQUEST, "invalid_field"),
        ("%20900127015527", StatusCode::BAD_REQUEST, "invalid_field"),
        (
            "%E2%80%8B900127015527",
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        ("%FF", StatusCode::BAD_REQUEST, "invalid_field"),
        ("..%2Fstations", StatusCode::BAD_REQUEST, "invalid_field"),
        (&"9".repeat(65), StatusCode::BAD_REQUEST, "invalid_field"),
        ("90012701552", StatusCode::BAD_REQUEST, "invalid_field"),
        ("A1", StatusCode::BAD_REQUEST, "invalid_field"),
        ("900127015528", StatusCode::NOT_FOUND, "booking_not_found"),
        ("900127-01-5528", StatusCode::NOT_FOUND, "booking_not_found"),
        ("", StatusCode::NOT_FOUND, "route_not_found"),
    ];
    // With a well-formed reference, so that only the ID decides the answer.
    let authorization = app.owner_authorization("900127015527");
    let authorization = authorization.as_deref();
    for (id, status, code) in cases {
        for response in [
            app.get_booking_as(id, authorization).await,
            app.cancel_booking_as(id, authorization).await,
        ] {
            assert_eq!(response.status, status, "{id}");
            assert_eq!(response.error_code(), code, "{id}");
            if code == "invalid_field" {
                assert_eq!(response.body["field"], "mysejahteraId", "{id}");
            }
        }
    }
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.get_booking("900127015527").await.status, StatusCode::OK);
}

in_both_modes!(ids_that_could_name_other_keys_are_refused_and_change_nothing);

/// A booking stored under earlier, laxer rules (here: a bidi override in the name and a dashed
/// phone number, both refused today) stays readable, and cancelling it answers what happened.
async fn a_booking_stored_under_older_rules_is_read_and_cancelled(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 10)]).await;
    let id = "900127015527";
    assert_eq!(
        app.book(id, "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    let mut old = booking(id, "20210516");
    old["firstName"] = "Fadhil\u{202e}".into();
    old["phoneNumber"] = "012-3456789".into();
    let mut connection = app.connection.clone();
    let _: () = redis::cmd("SET")
        .arg(booking_key_of(id))
        .arg(old.to_string())
        .query_async(&mut connection)
        .await
        .unwrap();

    let found = app.get_booking(id).await;
    assert_eq!(found.status, StatusCode::OK, "{:?}", found.body);
    assert_eq!(found.body, old);

    let cancelled = app.cancel_booking(id).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body, old);
    assert_eq!(app.count_keys("booking:*").await, 0);
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(10));
}

in_both_modes!(a_booking_stored_under_older_rules_is_read_and_cancelled);
