//! Bookings held are counted per date, so resets and cancels never re-open a booked slot.
use booking_core::seed::SeedReport;
use lambda_http::http::StatusCode;
use redis::AsyncCommands;

use crate::helpers::{
    AppOptions, RedisMode, booking_key_of, owner_key_of, sequence_key_of, spawn_app_with,
};
use crate::helpers::{TestApp, one_station_seed, person_id};

const DATE: &str = "20210516";

async fn reset(app: &TestApp, capacity: u32) -> SeedReport {
    app.seeder()
        .seed(one_station_seed(DATE, 1, "PWTC", capacity, true))
        .await
        .unwrap()
}

async fn held(app: &TestApp) -> Option<i64> {
    let mut connection = app.connection.clone();
    connection.hget("held:{PWTC}", DATE).await.unwrap()
}

async fn book_all(app: &TestApp, first: usize, count: usize) -> usize {
    let mut created = 0;
    for i in 0..count {
        if app.book(&person_id(first + i), "PWTC", DATE).await.status == StatusCode::CREATED {
            created += 1;
        }
    }
    created
}

async fn resets_never_reopen_booked_slots(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 10)]).await;
    assert_eq!(book_all(&app, 0, 10).await, 10);

    reset(&app, 5).await;
    assert_eq!(app.remaining("PWTC", DATE).await, Some(0));
    reset(&app, 10).await;
    assert_eq!(app.remaining("PWTC", DATE).await, Some(0));

    assert_eq!(book_all(&app, 1000, 5).await, 0, "10 held of 10");
    assert_eq!(held(&app).await, Some(10));
    // Growing past what is held opens exactly the difference.
    reset(&app, 12).await;
    assert_eq!(book_all(&app, 2000, 5).await, 2);
    assert_eq!(held(&app).await, Some(12));
    assert_eq!(app.count_keys("booking:*").await, 12);
}

in_both_modes!(resets_never_reopen_booked_slots);

async fn a_date_without_a_capacity_entry_keeps_its_bookings_on_reset(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 4)]).await;
    assert_eq!(book_all(&app, 0, 4).await, 4);
    let mut connection = app.connection.clone();
    let _: () = connection.del("capacity:{PWTC}").await.unwrap();

    reset(&app, 4).await;

    assert_eq!(app.remaining("PWTC", DATE).await, Some(0));
    assert_eq!(book_all(&app, 1000, 2).await, 0);
}

in_both_modes!(a_date_without_a_capacity_entry_keeps_its_bookings_on_reset);

/// Data as the scripts before the held count wrote it: no `held:` hash, and a date whose
/// `capacity:` entry is missing.
async fn legacy_data(app: &TestApp) {
    app.seed(2, &[("PWTC", 10)]).await;
    assert_eq!(book_all(app, 0, 3).await, 3);
    assert_eq!(
        app.book(&person_id(12), "PWTC", "20210517").await.status,
        StatusCode::CREATED
    );
    let mut connection = app.connection.clone();
    let _: () = connection.del("held:{PWTC}").await.unwrap();
    let _: () = connection.hdel("capacity:{PWTC}", DATE).await.unwrap();
}

async fn a_reset_leaves_unmigrated_dates_alone_and_says_so(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    legacy_data(&app).await;
    let before = app.snapshot().await;

    let report = reset(&app, 2).await;

    assert_eq!(report.dates_unmigrated, 1);
    assert_eq!(report.total_slots, 0);
    assert_eq!(app.snapshot().await, before);
}

in_both_modes!(a_reset_leaves_unmigrated_dates_alone_and_says_so);

async fn the_migration_counts_booking_records_once(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    legacy_data(&app).await;

    let migrated = app.seeder().migrate().await.unwrap();

    assert_eq!(migrated.dates_migrated, 2);
    assert_eq!(migrated.bookings_counted, 4);
    assert_eq!(held(&app).await, Some(3));
    let mut connection = app.connection.clone();
    let other: Option<i64> = connection.hget("held:{PWTC}", "20210517").await.unwrap();
    assert_eq!(other, Some(1));
    // The missing capacity is what the old scripts kept: remaining + booked.
    let capacity: Option<i64> = connection.hget("capacity:{PWTC}", DATE).await.unwrap();
    assert_eq!(capacity, Some(10));
    assert_eq!(app.remaining("PWTC", DATE).await, Some(7));

    // Counted dates are left alone by a second run, and resets now keep bookings booked.
    assert_eq!(app.seeder().migrate().await.unwrap().dates_migrated, 0);
    reset(&app, 2).await;
    reset(&app, 4).await;
    assert_eq!(book_all(&app, 2000, 3).await, 1);
    assert_eq!(held(&app).await, Some(4));
}

in_both_modes!(the_migration_counts_booking_records_once);

/// Data in the layout before hash tags (`slots:PWTC`, `booking:900127015527`, ...): the migration renames
/// it, after which its booking reads and cancels as any other, and its slot comes back.
#[tokio::test]
async fn the_migration_moves_data_to_the_hash_tagged_layout() {
    let app = spawn_app_with(AppOptions::on(RedisMode::Single)).await;
    app.seed(1, &[("PWTC", 10)]).await;
    assert_eq!(
        app.book("900127015527", "PWTC", DATE).await.status,
        StatusCode::CREATED
    );
    let mut connection = app.connection.clone();
    let renames = [
        ("slots:{PWTC}".to_owned(), "slots:PWTC"),
        ("capacity:{PWTC}".to_owned(), "capacity:PWTC"),
        ("held:{PWTC}".to_owned(), "held:PWTC"),
        (booking_key_of("900127015527"), "booking:900127015527"),
        (owner_key_of("900127015527"), "booking-owner:900127015527"),
        (sequence_key_of("900127015527"), "event-seq:900127015527"),
    ];
    for (new, old) in &renames {
        let _: () = connection.rename(new, old).await.unwrap();
    }
    // What the releases before wrote: no holders, no holdId.
    let _: () = connection.del("holders:{PWTC}").await.unwrap();
    let _: () = connection
        .hdel("booking-owner:900127015527", "holdId")
        .await
        .unwrap();

    let report = app.seeder().migrate().await.unwrap();
    assert_eq!(report.keys_renamed, renames.len() as u64);
    assert_eq!(app.remaining("PWTC", DATE).await, Some(9));
    assert_eq!(app.get_booking("900127015527").await.status, StatusCode::OK);
    assert_eq!(
        app.cancel_booking("900127015527").await.status,
        StatusCode::OK
    );
    assert_eq!(app.remaining("PWTC", DATE).await, Some(10));
    assert_eq!(held(&app).await, Some(0));
    let holders: i64 = connection.hlen("holders:{PWTC}").await.unwrap();
    assert_eq!(holders, 0);
    assert_eq!(app.seeder().migrate().await.unwrap().keys_renamed, 0);
}
