//! A booking record (personal data) expires BOOKING_RETENTION_DAYS after its date.
use crate::helpers::{TestApp, one_station_seed, spawn_app};
use crate::helpers::{booking_key_of, owner_key_of, sequence_key_of};
use lambda_http::http::StatusCode;

const DAY: i64 = 86_400;

async fn seed(app: &TestApp, start_date: &str) {
    app.seeder()
        .seed(one_station_seed(start_date, 1, "PWTC", 5, false))
        .await
        .unwrap();
}

/// When the booking's records expire; the owner record (its reference's nonce) goes with it.
async fn expire_time(app: &TestApp, id: &str) -> i64 {
    let mut expiries = Vec::new();
    for key in [booking_key_of(id), owner_key_of(id)] {
        let expires: i64 = redis::cmd("EXPIRETIME")
            .arg(&key)
            .query_async(&mut app.connection.clone())
            .await
            .unwrap();
        expiries.push(expires);
    }
    assert_eq!(
        expiries[0], expiries[1],
        "{id}: booking and owner expire together"
    );
    expiries[0]
}

#[tokio::test]
async fn a_booking_expires_thirty_days_after_its_date() {
    let app = spawn_app().await;
    seed(&app, "20990101").await;
    assert_eq!(
        app.book("900127015527", "PWTC", "20990101").await.status,
        StatusCode::CREATED
    );
    // 2099-01-02T00:00:00Z, when the date is over, plus the default 30 days.
    assert_eq!(
        expire_time(&app, "900127015527").await,
        4_070_995_200 + 30 * DAY
    );
    // The identical retry keeps the expiry.
    assert_eq!(
        app.book("900127015527", "PWTC", "20990101").await.status,
        StatusCode::OK
    );
    assert_eq!(
        expire_time(&app, "900127015527").await,
        4_070_995_200 + 30 * DAY
    );
}

#[tokio::test]
async fn a_booking_on_a_past_date_is_kept_from_now_not_dropped_at_once() {
    let app = spawn_app().await;
    seed(&app, "20210516").await;
    assert_eq!(
        app.book("900127015527", "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    let now = i64::try_from(crate::helpers::unix_ms_now() / 1000).unwrap();
    let expires = expire_time(&app, "900127015527").await;
    assert!(
        (now + 29 * DAY..=now + 31 * DAY).contains(&expires),
        "{expires} vs now {now}"
    );
    assert_eq!(app.get_booking("900127015527").await.status, StatusCode::OK);
}

/// The event counter's key names the person, so it expires too: with the person's latest
/// booking, never sooner (a rebooking's events must continue the numbering while any of the
/// person's records live).
#[tokio::test]
async fn the_event_counter_expires_with_the_latest_booking_never_sooner() {
    let app = spawn_app().await;
    app.seeder()
        .seed(one_station_seed("20990101", 2, "PWTC", 5, false))
        .await
        .unwrap();
    let counter_expiry = || async {
        let expires: i64 = redis::cmd("EXPIRETIME")
            .arg(sequence_key_of("900127015527"))
            .query_async(&mut app.connection.clone())
            .await
            .unwrap();
        expires
    };
    let first_day_over = 4_070_995_200; // 2099-01-02T00:00:00Z

    assert_eq!(
        app.book("900127015527", "PWTC", "20990101").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        counter_expiry().await,
        expire_time(&app, "900127015527").await
    );
    assert_eq!(counter_expiry().await, first_day_over + 30 * DAY);
    assert_eq!(
        app.cancel_booking("900127015527").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.book("900127015527", "PWTC", "20990102").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        counter_expiry().await,
        first_day_over + 31 * DAY,
        "extended"
    );
    assert_eq!(
        app.cancel_booking("900127015527").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.book("900127015527", "PWTC", "20990101").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        counter_expiry().await,
        first_day_over + 31 * DAY,
        "never shortened"
    );
}
