//! Moving a booking on a 3-primary Redis Cluster (`booking_redis::protocol`, the move steps):
//! a stop, or a shard that refuses, between every pair of steps, between two stations on two
//! shards and between two dates of one station; then the reconciler. Every case ends with the
//! invariants read back with plain commands: counts equal bookings, nobody holds two slots.
use std::time::{Duration, SystemTime};

use booking_core::domain::{
    BookedSlot, Booking, BookingEvent, BookingRequest, EventRecord, EventStamp, MySejahteraId,
    ReferenceNonce,
};
use booking_core::ports::BookingStore;
use booking_redis::protocol::{CLAIM_TTL, Held, MoveClaimed};
use lambda_http::http::StatusCode;
use redis::AsyncCommands;
use serde_json::Value;

use crate::cluster_protocol::{DATE, assert_invariants, reconcile, with_node_paused};
use crate::helpers::{
    AppOptions, RedisMode, TestApp, booking_json, booking_key_of, person_id, spawn_app_with,
};

const LATER: &str = "20210517";

/// Where a move stops, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    AfterClaim,
    AfterHold,
    /// Between two stations only: the old station's mark is the last step that ran.
    AfterMark,
    AfterConfirm,
    AfterRelease,
    AfterSettle,
    /// The new slot's shard refuses (paused) between claim and hold.
    NewStationDownBeforeHold,
    /// The person's shard refuses between hold and confirm.
    PersonDownBeforeConfirm,
    /// The old slot's shard refuses between confirm and release.
    OldStationDownBeforeRelease,
    /// The new slot's shard refuses between release and settle.
    NewStationDownBeforeSettle,
}

impl Crash {
    const ALL: [Self; 10] = [
        Self::AfterClaim,
        Self::AfterHold,
        Self::AfterMark,
        Self::AfterConfirm,
        Self::AfterRelease,
        Self::AfterSettle,
        Self::NewStationDownBeforeHold,
        Self::PersonDownBeforeConfirm,
        Self::OldStationDownBeforeRelease,
        Self::NewStationDownBeforeSettle,
    ];

    /// Whether the booking moved once the steps that ran succeeded; None when a step timed out
    /// on a paused shard: it may have run once the shard resumed (a timeout proves nothing),
    /// and the invariants must hold either way.
    fn moved(self) -> Option<bool> {
        match self {
            Self::AfterClaim
            | Self::AfterHold
            | Self::AfterMark
            | Self::NewStationDownBeforeHold => Some(false),
            Self::PersonDownBeforeConfirm => None,
            _ => Some(true),
        }
    }
}

fn booking(id: &str, location: &str, date: &str) -> Booking {
    let request: BookingRequest = serde_json::from_str(&booking_json(id, location, date)).unwrap();
    Booking::parse(&request).unwrap()
}

/// An ID whose keys live on another node than every one of `stations` (computed).
fn person_apart_from(app: &TestApp, stations: &[&str], first: usize) -> String {
    let cluster = app.cluster.as_ref().unwrap();
    let nodes: Vec<usize> = stations
        .iter()
        .map(|station| cluster.node_of(&format!("slots:{{{station}}}")))
        .collect();
    (first..)
        .map(person_id)
        .find(|id| !nodes.contains(&cluster.node_of(&booking_key_of(id))))
        .unwrap()
}

/// Runs the move of `from` (held, under `nonce`) to `to` step by step, as the store's
/// `move_in_steps` does, stopping at `crash`.
async fn run_until(
    app: &TestApp,
    from: &Booking,
    nonce: &ReferenceNonce,
    to: &Booking,
    crash: Crash,
) {
    let store = &app.store;
    let within = from.location == to.location;
    let person = from.mysejahtera_id.as_str();
    let event: EventRecord =
        BookingEvent::rescheduled(to.clone(), from.slot(), EventStamp::new(SystemTime::now()))
            .record();
    let old_station = format!("slots:{{{}}}", from.location);
    let new_station = format!("slots:{{{}}}", to.location);
    let MoveClaimed::Claim { hold_id, from_hold } =
        store.claim_move(from, nonce, to).await.unwrap()
    else {
        panic!("a first move claims");
    };
    if crash == Crash::AfterClaim {
        return;
    }
    let hold = async || {
        if within {
            store.hold_move(from, &from_hold, to, &hold_id).await
        } else {
            store.hold(to, &hold_id).await
        }
    };
    if crash == Crash::NewStationDownBeforeHold {
        let refused = with_node_paused(app, &new_station, hold).await;
        assert!(refused.is_err(), "{refused:?}");
        return;
    }
    let Held::Held { score } = hold().await.unwrap() else {
        panic!("a free slot is held");
    };
    if crash == Crash::AfterHold {
        return;
    }
    if !within {
        store.mark_for_cancel(&from.location, person).await.unwrap();
    }
    if crash == Crash::AfterMark {
        return;
    }
    let confirm = async || {
        store
            .confirm_move(from, &from_hold, nonce, to, &event, &hold_id)
            .await
    };
    if crash == Crash::PersonDownBeforeConfirm {
        let refused = with_node_paused(app, &booking_key_of(person), confirm).await;
        assert!(refused.is_err(), "{refused:?}");
        return;
    }
    let confirmed = confirm().await.unwrap();
    assert_eq!(confirmed[0], "moved", "{confirmed:?}");
    if crash == Crash::AfterConfirm {
        return;
    }
    let release = async || {
        if within {
            store
                .release_parked(&from.location, person, &from_hold)
                .await
        } else {
            store.release(&from.location, person, &from_hold).await
        }
    };
    if crash == Crash::OldStationDownBeforeRelease {
        let refused = with_node_paused(app, &old_station, release).await;
        assert!(refused.is_err(), "{refused:?}");
        return;
    }
    assert!(release().await.unwrap(), "the old slot is given back");
    if crash == Crash::AfterRelease {
        return;
    }
    let settle = async || store.settle(&to.location, person, &score).await;
    if crash == Crash::NewStationDownBeforeSettle {
        let refused = with_node_paused(app, &new_station, settle).await;
        assert!(refused.is_err(), "{refused:?}");
        return;
    }
    settle().await.unwrap();
}

async fn stored_slot(app: &TestApp, id: &str) -> (String, String) {
    let json: String = app
        .store
        .connection()
        .get(booking_key_of(id))
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(&json).unwrap();
    (
        stored["location"].as_str().unwrap().to_owned(),
        stored["date"].as_str().unwrap().to_owned(),
    )
}

/// Between two stations on two shards (`within` false), or two dates of one station: after a
/// stop anywhere and the reconciler, the booking is at exactly one of the two slots, the counts
/// equal the bookings, nobody holds two slots, and the person's retry ends moved, once.
async fn a_move_that_stops_anywhere_leaves_one_slot_and_the_retry_moves_it(within: bool) {
    let app = spawn_app_with(AppOptions::on(RedisMode::Cluster)).await;
    let stations = app.cluster.as_ref().unwrap().stations_on_different_nodes(2);
    app.seed(2, &[(stations[0].as_str(), 3), (stations[1].as_str(), 3)])
        .await;
    let (old, new) = (stations[0].as_str(), stations[1].as_str());
    let (to_location, to_date) = if within { (old, LATER) } else { (new, DATE) };
    for (n, crash) in Crash::ALL.into_iter().enumerate() {
        if within && crash == Crash::AfterMark {
            continue;
        }
        let id = person_apart_from(&app, &[old, new], 1000 * (n + 1));
        assert_eq!(app.book(&id, old, DATE).await.status, StatusCode::CREATED);
        let person = MySejahteraId::parse(&id).unwrap();
        let held = BookingStore::find_booking(&app.store, &person)
            .await
            .unwrap()
            .unwrap();
        let nonce = held.ownership.unwrap().nonce;
        let to = held
            .booking
            .moved_to(&BookedSlot::parse(to_location, to_date).unwrap());
        run_until(&app, &held.booking, &nonce, &to, crash).await;
        reconcile(&app).await;
        let records = assert_invariants(&app.store, &stations, true).await;
        let now_at = stored_slot(&app, &id).await;
        let wanted = (to_location.to_owned(), to_date.to_owned());
        if let Some(moved) = crash.moved() {
            let expected = if moved {
                wanted.clone()
            } else {
                (old.to_owned(), DATE.to_owned())
            };
            assert_eq!(now_at, expected, "{crash:?}");
        }

        // The booker's retry (the identical PATCH) ends moved, with one booking still.
        let retry = app.move_booking(&id, to_location, to_date).await;
        assert_eq!(retry.status, StatusCode::OK, "{crash:?}: {}", retry.body);
        assert_eq!(stored_slot(&app, &id).await, wanted, "{crash:?}");
        let after = assert_invariants(&app.store, &stations, true).await;
        let total = |records: &std::collections::BTreeMap<_, i64>| records.values().sum::<i64>();
        assert_eq!(total(&after), total(&records), "{crash:?}");
        // Free the slot for the next case through the API, as the booker would.
        assert_eq!(
            app.cancel_booking(&id).await.status,
            StatusCode::OK,
            "{crash:?}"
        );
        assert_invariants(&app.store, &stations, true).await;
    }
}

mod crash_injection {
    #[tokio::test]
    async fn between_two_stations() {
        super::a_move_that_stops_anywhere_leaves_one_slot_and_the_retry_moves_it(false).await;
    }

    #[tokio::test]
    async fn between_two_dates_of_one_station() {
        super::a_move_that_stops_anywhere_leaves_one_slot_and_the_retry_moves_it(true).await;
    }
}

/// A move's confirm that arrives after the reconciler decided the old slot's hold moves nothing,
/// even when that run stopped before the new station (its deadline): the old hold stays the
/// booking's only once the move can no longer be confirmed, so no confirm can leave the old
/// slot held by nobody's booking.
#[tokio::test]
async fn a_late_move_confirm_after_the_reconciler_moves_nothing() {
    let app = spawn_app_with(AppOptions::on(RedisMode::Cluster)).await;
    let stations = app.cluster.as_ref().unwrap().stations_on_different_nodes(2);
    app.seed(1, &[(stations[0].as_str(), 1), (stations[1].as_str(), 1)])
        .await;
    let id = person_apart_from(&app, &[stations[0].as_str(), stations[1].as_str()], 20_000);
    assert_eq!(
        app.book(&id, &stations[0], DATE).await.status,
        StatusCode::CREATED
    );
    let from = booking(&id, &stations[0], DATE);
    let to = booking(&id, &stations[1], DATE);
    let held = BookingStore::find_booking(&app.store, &from.mysejahtera_id)
        .await
        .unwrap()
        .unwrap();
    let nonce = held.ownership.unwrap().nonce;
    let MoveClaimed::Claim { hold_id, from_hold } =
        app.store.claim_move(&from, &nonce, &to).await.unwrap()
    else {
        panic!("a first move claims");
    };
    assert!(matches!(
        app.store.hold(&to, &hold_id).await.unwrap(),
        Held::Held { .. }
    ));
    app.store
        .mark_for_cancel(&from.location, &id)
        .await
        .unwrap();
    app.clock.advance(CLAIM_TTL + Duration::from_secs(1));
    let old_only = app.store.reconcile_station(&from.location).await.unwrap();
    assert_eq!(old_only.settled, 1, "{old_only:?}");
    let event =
        BookingEvent::rescheduled(to.clone(), from.slot(), EventStamp::new(SystemTime::now()))
            .record();
    let late = app
        .store
        .confirm_move(&from, &from_hold, &nonce, &to, &event, &hold_id)
        .await
        .unwrap();
    assert_eq!(late, ["claim_lost"]);
    assert_eq!(
        stored_slot(&app, &id).await,
        (stations[0].clone(), DATE.to_owned())
    );
    reconcile(&app).await;
    assert_invariants(&app.store, &stations, true).await;
    // The new station's slot is free for anybody.
    let other = person_apart_from(&app, &[stations[0].as_str(), stations[1].as_str()], 21_000);
    assert_eq!(
        app.book(&other, &stations[1], DATE).await.status,
        StatusCode::CREATED
    );
}
