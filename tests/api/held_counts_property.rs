//! Property: under any sequence of seeds, resets, bookings, moves and cancels, every date's
//! held count equals its booking records and its holders, never exceeds its capacity,
//! remaining = max(capacity - held, 0), and nobody holds two slots. Checked against a model on
//! a real redis-server after every step.
use std::collections::HashMap;
use std::time::SystemTime;

use booking_core::domain::{
    BookedSlot, Booking, BookingEvent, BookingOwnership, BookingRequest, EventStamp, EventType,
    Location, MySejahteraId, ReferenceNonce, SlotDate,
};
use booking_core::ports::{BookingOutcome, BookingStore, MoveOutcome, SeedStore, StationPlan};
use booking_redis::RedisStore;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use redis::AsyncCommands;

use crate::helpers::{ServerProcess, TEST_TIMEOUTS};

const DATES: [&str; 2] = ["20210516", "20210517"];
const PEOPLE: u8 = 6;

#[derive(Debug, Clone)]
enum Step {
    Seed {
        capacity: u32,
        days: usize,
        reset: bool,
    },
    Book {
        person: u8,
        day: usize,
    },
    Cancel {
        person: u8,
    },
    Move {
        person: u8,
        day: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (1..=4_u32, 1..=2_usize, any::<bool>())
            .prop_map(|(capacity, days, reset)| Step::Seed { capacity, days, reset }),
        3 => (0..PEOPLE, 0..2_usize).prop_map(|(person, day)| Step::Book { person, day }),
        2 => (0..PEOPLE).prop_map(|person| Step::Cancel { person }),
        2 => (0..PEOPLE, 0..2_usize).prop_map(|(person, day)| Step::Move { person, day }),
    ]
}

/// What the store should hold: each date's capacity once seeded, and who booked which date.
#[derive(Default)]
struct Model {
    capacity: [Option<u32>; 2],
    bookings: HashMap<u8, usize>,
}

impl Model {
    fn held(&self, day: usize) -> u32 {
        self.bookings.values().filter(|d| **d == day).count() as u32
    }

    /// In book.lua's order: the identical booking, then the station and date, then whether
    /// the person holds another booking (so an unknown or full date answers everybody alike).
    fn book(&mut self, person: u8, day: usize) -> BookingOutcome {
        let held_day = self.bookings.get(&person).copied();
        if held_day == Some(day) {
            return BookingOutcome::AlreadyHeld { ownership: None };
        }
        let Some(capacity) = self.capacity[day] else {
            return if self.capacity.iter().any(Option::is_some) {
                BookingOutcome::UnknownDate
            } else {
                BookingOutcome::UnknownStation
            };
        };
        if self.held(day) >= capacity {
            return BookingOutcome::FullyBooked;
        }
        if held_day.is_some() {
            return BookingOutcome::AlreadyBooked;
        }
        self.bookings.insert(person, day);
        BookingOutcome::Created {
            outbox_id: String::new(),
            sequence: 0,
        }
    }

    /// What a move should answer, as the name of its outcome.
    fn move_to(&mut self, person: u8, day: usize) -> &'static str {
        let Some(held_day) = self.bookings.get(&person).copied() else {
            return "not_booked";
        };
        if held_day == day {
            return "already_there";
        }
        let Some(capacity) = self.capacity[day] else {
            return "unknown_date";
        };
        if self.held(day) >= capacity {
            return "fully_booked";
        }
        self.bookings.insert(person, day);
        "moved"
    }
}

fn outcome_name(outcome: &MoveOutcome) -> &'static str {
    match outcome {
        MoveOutcome::Moved(_) => "moved",
        MoveOutcome::AlreadyThere(_) => "already_there",
        MoveOutcome::NotBooked => "not_booked",
        MoveOutcome::InProgress => "in_progress",
        MoveOutcome::FullyBooked => "fully_booked",
        MoveOutcome::UnknownStation => "unknown_station",
        MoveOutcome::UnknownDate => "unknown_date",
    }
}

fn booking(person: u8, day: usize) -> Booking {
    Booking::parse(&BookingRequest {
        mysejahtera_id: format!("90012701550{person}"),
        first_name: "Fadhil".into(),
        last_name: "Yaacob".into(),
        address: "Kuala Lumpur".into(),
        location: "PWTC".into(),
        phone_number: "0123456789".into(),
        date: DATES[day].into(),
    })
    .unwrap()
}

async fn run_steps(store: &RedisStore, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut connection = store.connection();
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut model = Model::default();
    for (n, step) in steps.iter().enumerate() {
        match *step {
            Step::Seed {
                capacity,
                days,
                reset,
            } => {
                let plan = StationPlan {
                    location: Location::parse("PWTC").unwrap(),
                    daily_capacity: capacity,
                    dates: DATES[..days]
                        .iter()
                        .map(|d| SlotDate::parse(d).unwrap())
                        .collect(),
                    details: Default::default(),
                };
                store.seed_station(&plan, reset).await.unwrap();
                for day in 0..days {
                    if model.capacity[day].is_none() || reset {
                        model.capacity[day] = Some(capacity);
                    }
                }
            }
            Step::Book { person, day } => {
                let booking = booking(person, day);
                let event = BookingEvent::new(
                    EventType::BookingCreated,
                    booking.clone(),
                    SystemTime::now(),
                );
                let ownership = BookingOwnership {
                    nonce: ReferenceNonce::random().unwrap(),
                    booked_at: SystemTime::now(),
                    retry_key: None,
                };
                let got = store
                    .book(&booking, &event.record(), &ownership)
                    .await
                    .unwrap();
                let expected = model.book(person, day);
                // Only what the counters decide is compared, not ids, nonces and sequences.
                let got = match got {
                    BookingOutcome::Created { .. } => BookingOutcome::Created {
                        outbox_id: String::new(),
                        sequence: 0,
                    },
                    BookingOutcome::AlreadyHeld { .. } => {
                        BookingOutcome::AlreadyHeld { ownership: None }
                    }
                    other => other,
                };
                prop_assert_eq!(got, expected, "step {} {:?}", n, step);
            }
            Step::Move { person, day } => {
                let id = MySejahteraId::parse(&format!("90012701550{person}")).unwrap();
                // The owner's move: with the nonce its booking was stored with.
                let nonce = match store.find_booking(&id).await.unwrap() {
                    Some(held) => held.ownership.unwrap().nonce,
                    None => ReferenceNonce::random().unwrap(),
                };
                let to = BookedSlot::parse("PWTC", DATES[day]).unwrap();
                let got = store
                    .move_booking(&id, &nonce, &to, &EventStamp::new(SystemTime::now()))
                    .await
                    .unwrap();
                let expected = model.move_to(person, day);
                prop_assert_eq!(outcome_name(&got), expected, "step {} {:?}", n, step);
            }
            Step::Cancel { person } => {
                let id = MySejahteraId::parse(&format!("90012701550{person}")).unwrap();
                // The owner's cancel: with the nonce its booking was stored with.
                let nonce = match store.find_booking(&id).await.unwrap() {
                    Some(held) => held.ownership.unwrap().nonce,
                    None => ReferenceNonce::random().unwrap(),
                };
                let cancelled = store
                    .cancel(&id, &EventStamp::new(SystemTime::now()), &nonce)
                    .await
                    .unwrap();
                let expected = model.bookings.remove(&person);
                prop_assert_eq!(
                    cancelled.map(|c| c.booking.date.to_string()),
                    expected.map(|day| DATES[day].to_owned()),
                    "step {} {:?}",
                    n,
                    step
                );
            }
        }
        // The invariants, read from Redis itself.
        let keys: Vec<String> = connection.keys("booking:*").await.unwrap();
        let mut records = [0_i64; 2];
        for key in keys {
            let json: String = connection.get(&key).await.unwrap();
            let stored: serde_json::Value = serde_json::from_str(&json).unwrap();
            let day = DATES.iter().position(|d| stored["date"] == *d).unwrap();
            records[day] += 1;
        }
        // One hold per person (a hash field each), on the date of their booking.
        let holders: HashMap<String, String> = connection.hgetall("holders:{PWTC}").await.unwrap();
        prop_assert_eq!(
            holders.len(),
            model.bookings.len(),
            "holders, step {} {:?}",
            n,
            step
        );
        for (person, day) in &model.bookings {
            let hold = holders.get(&format!("90012701550{person}"));
            prop_assert!(
                hold.is_some_and(|hold| hold.ends_with(&format!("|{}", DATES[*day]))),
                "{}'s hold {:?}, step {} {:?}",
                person,
                hold,
                n,
                step
            );
        }
        for day in 0..2 {
            let held: Option<i64> = connection.hget("held:{PWTC}", DATES[day]).await.unwrap();
            let remaining: Option<i64> = connection.hget("slots:{PWTC}", DATES[day]).await.unwrap();
            let capacity: Option<i64> = connection
                .hget("capacity:{PWTC}", DATES[day])
                .await
                .unwrap();
            match model.capacity[day] {
                None => {
                    prop_assert_eq!(remaining, None);
                    prop_assert_eq!(records[day], 0);
                }
                Some(model_capacity) => {
                    let held = held.unwrap_or(-1);
                    prop_assert_eq!(held, records[day], "held, step {} {:?}", n, step);

                    // The model grants a booking or move only below capacity, so this is also
                    // "never more held than capacity" (beyond what a shrinking reset left).
                    prop_assert_eq!(held, i64::from(model.held(day)));
                    prop_assert_eq!(capacity, Some(i64::from(model_capacity)));
                    prop_assert_eq!(
                        remaining,
                        Some((i64::from(model_capacity) - held).max(0)),
                        "remaining, step {} {:?}",
                        n,
                        step
                    );
                }
            }
        }
    }
    Ok(())
}

#[test]
fn held_counts_match_a_model_under_any_sequence() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let redis = ServerProcess::redis();
    let store =
        runtime.block_on(async { RedisStore::connect(&redis.url(), TEST_TIMEOUTS).unwrap() });
    // Modest: it runs in `make test` on two shared cores.
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(step(), 1..40), |steps| {
        runtime.block_on(run_steps(&store, steps))
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
