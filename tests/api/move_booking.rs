//! `PATCH /booking/{id}`: a booking moves to another slot in one step, through the handlers
//! on a real redis-server and broker. The new slot is taken and the old one freed together, or
//! nothing changes.
use std::sync::Arc;
use std::time::Duration;

use booking_core::outbox::{OutboxRelay, RelaySettings};
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

use crate::cluster_protocol::{assert_invariants, reconcile};
use crate::helpers::exact;
use crate::helpers::{
    AppOptions, RedisMode, TestApp, booking_json, create_topic, person_id, publisher, read_topic,
    spawn_app_with,
};

const ID: &str = "900127015527";

fn booking(id: &str, location: &str, date: &str) -> Value {
    serde_json::from_str(&booking_json(id, location, date)).unwrap()
}

fn stations() -> Vec<String> {
    vec!["PWTC".into(), "UM".into()]
}

/// PWTC and UM with two dates each, and ID booked at PWTC on 20210516.
async fn booked(capacity: u32) -> TestApp {
    booked_on(RedisMode::Single, capacity).await
}

async fn booked_on(mode: RedisMode, capacity: u32) -> TestApp {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(2, &[("PWTC", capacity), ("UM", capacity)]).await;
    assert_eq!(
        app.book(ID, "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    app
}

async fn a_move_takes_the_new_slot_frees_the_old_and_keeps_the_reference(mode: RedisMode) {
    let app = booked_on(mode, 3).await;

    let moved = app.move_booking(ID, "UM", "20210517").await;

    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body, booking(ID, "UM", "20210517"));
    assert_eq!(moved.headers["cache-control"], "no-store");
    assert!(moved.body.get("bookingReference").is_none());
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(3), "old +1");
    assert_eq!(app.remaining("UM", "20210517").await, Some(2), "new -1");
    // The reference the booker holds still reads it, at its new slot.
    let found = app.get_booking(ID).await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.body, booking(ID, "UM", "20210517"));
    assert_invariants(&app.store, &stations(), true).await;

    // One event, after the booking's, in the person's sequence, with both slots.
    let records = read_topic(&app.broker, 2).await;
    assert_eq!(records.len(), 2, "{records:?}");
    let event = records
        .iter()
        .find(|record| record.value["type"] == "booking.rescheduled")
        .expect("a booking.rescheduled event");
    assert_eq!(event.key, ID);
    assert_eq!(event.value["sequence"], 2);
    assert_eq!(
        event.value["from"],
        json!({"location": "PWTC", "date": "20210516"})
    );
    assert_eq!(
        event.value["to"],
        json!({"location": "UM", "date": "20210517"})
    );
    assert_eq!(event.value["booking"], booking(ID, "UM", "20210517"));
    assert_eq!(app.outbox_depth().await, 0, "published and removed");

    // Cancelling with the same reference frees the new slot, not the old one.
    assert_eq!(app.cancel_booking(ID).await.status, StatusCode::OK);
    assert_eq!(app.remaining("UM", "20210517").await, Some(3));
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(3));
    assert_invariants(&app.store, &stations(), true).await;
}

in_both_modes!(a_move_takes_the_new_slot_frees_the_old_and_keeps_the_reference);

async fn a_move_to_another_date_of_the_same_station_swaps_the_two_counts(mode: RedisMode) {
    let app = booked_on(mode, 1).await;
    let moved = app.move_booking(ID, "PWTC", "20210517").await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(1));
    assert_eq!(app.remaining("PWTC", "20210517").await, Some(0));
    assert_invariants(&app.store, &stations(), true).await;
    // The freed slot is anybody's now.
    assert_eq!(
        app.book(&person_id(1), "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    assert_invariants(&app.store, &stations(), true).await;
}

in_both_modes!(a_move_to_another_date_of_the_same_station_swaps_the_two_counts);

#[tokio::test]
async fn a_move_to_the_slot_held_already_changes_nothing_and_sends_no_event() {
    let app = booked(3).await;
    assert_eq!(read_topic(&app.broker, 1).await.len(), 1);
    let before = app.snapshot().await;

    let same = app.move_booking(ID, "PWTC", "20210516").await;

    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    assert_eq!(same.body, booking(ID, "PWTC", "20210516"));
    assert_eq!(app.snapshot().await, before);
    // Only the booking's own event (read_topic waits its full time for a second one).
    assert_eq!(read_topic(&app.broker, 2).await.len(), 1);
}

/// Refusals: the booking, both counts and the outbox stay exactly as they were.
#[tokio::test]
async fn a_move_that_cannot_be_done_changes_nothing() {
    let app = booked(1).await;
    assert_eq!(
        app.book(&person_id(1), "UM", "20210517").await.status,
        StatusCode::CREATED
    );
    let before = app.snapshot().await;
    let authorization = app.owner_authorization(ID);
    let cases: Vec<(&str, String, StatusCode, &str, Option<&str>)> = vec![
        (
            "the last slot is gone",
            json!({"location": "UM", "date": "20210517"}).to_string(),
            StatusCode::CONFLICT,
            "fully_booked",
            None,
        ),
        (
            "no such station",
            json!({"location": "NOPE", "date": "20210517"}).to_string(),
            StatusCode::NOT_FOUND,
            "station_not_found",
            None,
        ),
        (
            "no such date",
            json!({"location": "UM", "date": "20210601"}).to_string(),
            StatusCode::NOT_FOUND,
            "date_not_found",
            None,
        ),
        (
            "not a location",
            json!({"location": "UM:1", "date": "20210517"}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("location"),
        ),
        (
            "not a calendar date",
            json!({"location": "UM", "date": "20210230"}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("date"),
        ),
        (
            "no date",
            json!({"location": "UM"}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("date"),
        ),
        (
            "a date that is not a string",
            json!({"location": "UM", "date": 20210517}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("date"),
        ),
        (
            "a field a move does not take",
            json!({"location": "UM", "date": "20210517", "firstName": "X"}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("firstName"),
        ),
        (
            "a field sent twice",
            r#"{"location":"UM","date":"20210517","location":"PWTC"}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("location"),
        ),
        (
            "not JSON",
            "{location".to_owned(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
    ];
    for (what, body, status, code, field) in cases {
        let reply = app
            .move_booking_as(ID, authorization.as_deref(), body)
            .await;
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert_eq!(reply.error_code(), code, "{what}");
        assert_eq!(reply.body["field"].as_str(), field, "{what}");
        assert_eq!(app.snapshot().await, before, "{what}: nothing changed");
    }
    let bad_id = app
        .move_booking_as("9001270155", authorization.as_deref(), r#"{}"#)
        .await;
    assert_eq!(bad_id.body["field"], "mysejahteraId");
    assert_eq!(
        app.get_booking(ID).await.body,
        booking(ID, "PWTC", "20210516")
    );
}

/// The same ownership checks as reading and cancelling, with the same answers.
#[tokio::test]
async fn only_the_bookings_reference_moves_it_and_refusals_answer_as_get_does() {
    let app = booked(3).await;
    let other = person_id(2);
    assert_eq!(
        app.book(&other, "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    let before = app.snapshot().await;
    let body = json!({"location": "UM", "date": "20210517"}).to_string();
    let own = app.owner_authorization(ID).unwrap();
    let others = app.owner_authorization(&other).unwrap();

    for authorization in [None, Some("Basic x"), Some("Bearer not-a-reference")] {
        let reply = app.move_booking_as(ID, authorization, body.clone()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(reply.error_code(), "unauthorized");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        let read = app.get_booking_as(ID, authorization).await;
        assert_eq!(exact(&reply), exact(&read), "{authorization:?}");
    }
    let nobody = person_id(3);
    for (id, authorization) in [(ID, &others), (nobody.as_str(), &own)] {
        let reply = app
            .move_booking_as(id, Some(authorization), body.clone())
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.error_code(), "booking_not_found");
        let read = app.get_booking_as(id, Some(authorization)).await;
        assert_eq!(exact(&reply), exact(&read), "the same 404 as GET's");
    }
    assert_eq!(app.snapshot().await, before, "refused moves change nothing");

    // After a cancel the reference is dead for moves too.
    assert_eq!(app.cancel_booking(ID).await.status, StatusCode::OK);
    let after_cancel = app.move_booking(ID, "UM", "20210517").await;
    assert_eq!(after_cancel.status, StatusCode::NOT_FOUND);
    assert_eq!(app.remaining("UM", "20210517").await, Some(3));
}

/// The broker is down while the booking moves: the move is confirmed, its event waits in the
/// outbox and the relay publishes it like any other.
#[tokio::test]
async fn the_relay_publishes_a_move_the_broker_missed() {
    let mut app = booked(3).await;
    assert_eq!(read_topic(&app.broker, 1).await.len(), 1);
    app.broker.stop();
    assert_eq!(
        app.move_booking(ID, "UM", "20210516").await.status,
        StatusCode::OK
    );
    assert_eq!(app.outbox_depth().await, 1);
    app.broker.restart();
    create_topic(&app.broker).await;

    let relay = OutboxRelay::new(
        app.store.clone(),
        publisher(&app.broker),
        RelaySettings {
            min_age: Duration::ZERO,
            ..RelaySettings::default()
        },
    );
    assert_eq!(relay.run().await.unwrap().published, 1);

    let records = read_topic(&app.broker, 1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value["type"], "booking.rescheduled");
    assert_eq!(records[0].value["sequence"], 2);
    assert_eq!(records[0].value["to"]["location"], "UM");
    assert_eq!(app.outbox_depth().await, 0);
}

/// One slot left at UM on 20210517; people booked elsewhere move there while others book it,
/// all at once: exactly one of them gets it, and everybody else keeps what they had.
async fn concurrent_moves_and_bookings_on_the_last_slot_have_one_winner(mode: RedisMode) {
    const MOVERS: usize = 8;
    const BOOKERS: usize = 8;
    let app = Arc::new(spawn_app_with(AppOptions::on(mode).concurrent(MOVERS + BOOKERS)).await);
    app.seed(2, &[("PWTC", 20), ("UM", 1)]).await;
    for n in 0..MOVERS {
        let reply = app.book(&person_id(100 + n), "PWTC", "20210516").await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let mut attempts = Vec::new();
    for n in 0..MOVERS.max(BOOKERS) {
        if n < MOVERS {
            let app = Arc::clone(&app);
            attempts.push(tokio::spawn(async move {
                let id = person_id(100 + n);
                let reply = app.move_booking(&id, "UM", "20210517").await;
                (id, reply.status, reply.error_code().to_owned())
            }));
        }
        if n < BOOKERS {
            let app = Arc::clone(&app);
            attempts.push(tokio::spawn(async move {
                let id = person_id(200 + n);
                let reply = app.book(&id, "UM", "20210517").await;
                (id, reply.status, reply.error_code().to_owned())
            }));
        }
    }
    let (mut winners, mut unknown) = (Vec::new(), 0);
    for attempt in attempts {
        let (id, status, code) = attempt.await.unwrap();
        match (status, code.as_str()) {
            (StatusCode::OK | StatusCode::CREATED, _) => winners.push(id),
            (StatusCode::CONFLICT, "fully_booked") => {}
            // A timeout on a busy machine: the attempt may or may not have happened.
            (StatusCode::SERVICE_UNAVAILABLE, _) => unknown += 1,
            other => panic!("{id}: {other:?}"),
        }
    }
    assert!(winners.len() <= 1, "{winners:?}");
    if unknown == 0 {
        assert_eq!(winners.len(), 1, "somebody gets the slot");
    }
    reconcile(&app).await;
    let records = assert_invariants(&app.store, &stations(), true).await;
    let at = |location: &str, date: &str| {
        records
            .get(&(location.to_owned(), date.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(at("UM", "20210517"), 1, "the last slot, once");
    assert_eq!(app.remaining("UM", "20210517").await, Some(0));
    // The winner is whoever holds the slot now; every mover keeps one booking either way.
    let holders: std::collections::HashMap<String, String> =
        redis::AsyncCommands::hgetall(&mut app.store.connection(), "holders:{UM}")
            .await
            .unwrap();
    assert_eq!(holders.len(), 1, "{holders:?}");
    let holder = holders.keys().next().unwrap().clone();
    let moved = (0..MOVERS).any(|n| holder == person_id(100 + n));
    assert_eq!(
        at("PWTC", "20210516"),
        (MOVERS - usize::from(moved)) as i64,
        "a mover that lost keeps its booking"
    );
    assert!(
        winners.iter().all(|winner| *winner == holder),
        "{winners:?} vs {holder}"
    );
}

in_both_modes!(concurrent_moves_and_bookings_on_the_last_slot_have_one_winner);

/// One person sends two moves at once: they end with one booking, at the slot of a move that
/// answered 200, and the counts agree. (On a cluster the second may be told to retry.)
async fn two_moves_of_one_person_at_once_leave_one_booking(mode: RedisMode) {
    let app = Arc::new(booked_on(mode, 3).await);
    let (first, second) = tokio::join!(
        app.move_booking(ID, "UM", "20210516"),
        app.move_booking(ID, "PWTC", "20210517")
    );
    let mut answered = Vec::new();
    for reply in [&first, &second] {
        match (reply.status, reply.error_code()) {
            (StatusCode::OK, _) => answered.push(reply.body.clone()),
            (StatusCode::CONFLICT, "booking_in_progress") if mode == RedisMode::Cluster => {}
            other => panic!("{other:?}: {}", reply.body),
        }
    }
    let found = app.get_booking(ID).await;
    assert!(answered.contains(&found.body), "{}", found.body);
    let records = assert_invariants(&app.store, &stations(), true).await;
    assert_eq!(records.values().sum::<i64>(), 1);
}

in_both_modes!(two_moves_of_one_person_at_once_leave_one_booking);
