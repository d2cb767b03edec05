use booking_core::seed::{SeedRequest, StationCapacity};

use crate::helpers::person_id;
use crate::helpers::{AppOptions, RedisMode, spawn_app_with};

fn request(stations: &[(&str, u32)], days: u32, reset: bool) -> SeedRequest {
    SeedRequest {
        start_date: Some("20210516".into()),
        days: Some(days),
        stations: Some(
            stations
                .iter()
                .map(|(location, daily_capacity)| StationCapacity::new(*location, *daily_capacity))
                .collect(),
        ),
        reset: Some(reset),
    }
}

async fn seeding_twice_never_reopens_booked_slots(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    let first = app
        .seeder()
        .seed(request(&[("PWTC", 10)], 3, false))
        .await
        .unwrap();
    assert_eq!(first.total_slots, 30);
    assert_eq!(first.dates_skipped, 0);
    app.book(&person_id(1), "PWTC", "20210516").await;
    app.book(&person_id(2), "PWTC", "20210516").await;

    // Overlapping run: two known dates are skipped, one new date is created.
    let second = app
        .seeder()
        .seed(request(&[("PWTC", 10)], 4, false))
        .await
        .unwrap();

    assert_eq!(second.slots_created["PWTC"], 10);
    assert_eq!(second.dates_skipped, 3);
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(8));
    assert_eq!(app.remaining("PWTC", "20210519").await, Some(10));
}

in_both_modes!(seeding_twice_never_reopens_booked_slots);

async fn a_reset_reapplies_capacity_but_keeps_bookings_booked(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seeder()
        .seed(request(&[("PWTC", 10)], 1, false))
        .await
        .unwrap();
    for id in [1, 2, 3].map(person_id) {
        app.book(&id, "PWTC", "20210516").await;
    }

    let grown = app
        .seeder()
        .seed(request(&[("PWTC", 20)], 1, true))
        .await
        .unwrap();
    assert_eq!(grown.slots_created["PWTC"], 20);
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(17));

    app.seeder()
        .seed(request(&[("PWTC", 2)], 1, true))
        .await
        .unwrap();
    assert_eq!(
        app.remaining("PWTC", "20210516").await,
        Some(0),
        "never below zero"
    );
}

in_both_modes!(a_reset_reapplies_capacity_but_keeps_bookings_booked);

async fn an_empty_event_seeds_the_default_data_set(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;

    let report = app.seeder().seed(SeedRequest::default()).await.unwrap();

    assert_eq!(report.slots_created["PWTC"], 8000 * 30);
    assert_eq!(report.slots_created.len(), 3);
    assert_eq!(app.remaining("PWTC", "20210516").await, Some(8000));
    assert_eq!(app.count_keys("slots:*").await, 3);
}

in_both_modes!(an_empty_event_seeds_the_default_data_set);

async fn an_invalid_event_writes_nothing(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;

    let result = app
        .seeder()
        .seed(request(&[("OK", 10), ("BAD STATION", 10)], 3, false))
        .await;

    assert!(result.is_err());
    assert_eq!(app.snapshot().await, vec![]);
}

in_both_modes!(an_invalid_event_writes_nothing);
