use lambda_http::http::StatusCode;
use redis::AsyncCommands;

use crate::helpers::{AppOptions, RedisMode, spawn_app_with};

async fn a_station_lists_its_dates_in_calendar_order(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    // Written out of order on purpose: a Redis hash keeps no order of its own.
    let mut connection = app.connection.clone();
    for (date, left) in [
        ("20210601", 3),
        ("20210516", 5),
        ("20211231", 0),
        ("20210531", 9),
    ] {
        let _: () = connection.hset("slots:{PWTC}", date, left).await.unwrap();
    }

    let response = app.get_station("PWTC").await;

    assert_eq!(response.status, StatusCode::OK);
    // Read just now, but not in zero time: less than a second of freshness is left.
    assert_eq!(
        response.headers["cache-control"],
        "public, max-age=0, stale-while-revalidate=1"
    );
    assert_eq!(response.headers["content-type"], "application/json");
    assert_eq!(
        response.body,
        serde_json::json!([
            {"location": "PWTC", "date": "20210516", "availability": 5},
            {"location": "PWTC", "date": "20210531", "availability": 9},
            {"location": "PWTC", "date": "20210601", "availability": 3},
            {"location": "PWTC", "date": "20211231", "availability": 0},
        ])
    );
}

in_both_modes!(a_station_lists_its_dates_in_calendar_order);

async fn seeded_stations_show_every_day_at_full_capacity(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(30, &[("PWTC", 1000), ("UM", 50)]).await;

    let response = app.get_station("UM").await;

    let slots = response.body.as_array().unwrap();
    assert_eq!(slots.len(), 30);
    assert_eq!(slots[0]["date"], "20210516");
    assert_eq!(slots[29]["date"], "20210614");
    assert!(
        slots
            .iter()
            .all(|s| s["availability"] == 50 && s["location"] == "UM")
    );
}

in_both_modes!(seeded_stations_show_every_day_at_full_capacity);

async fn unknown_and_invalid_locations_are_refused(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 10)]).await;
    let cases = [
        ("NOPE", StatusCode::NOT_FOUND, "station_not_found"),
        ("pwtc", StatusCode::NOT_FOUND, "station_not_found"),
        ("PW%20TC", StatusCode::BAD_REQUEST, "invalid_field"),
        ("PWTC:1", StatusCode::BAD_REQUEST, "invalid_field"),
        ("%7BPWTC%7D", StatusCode::BAD_REQUEST, "invalid_field"),
        ("*", StatusCode::BAD_REQUEST, "invalid_field"),
        ("%FF", StatusCode::BAD_REQUEST, "invalid_field"),
    ];
    for (location, status, code) in cases {
        let response = app.get_station(location).await;
        assert_eq!(response.status, status, "{location}");
        assert_eq!(response.error_code(), code, "{location}");
        assert!(response.body["message"].is_string());
    }
}

in_both_modes!(unknown_and_invalid_locations_are_refused);
