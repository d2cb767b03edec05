//! `POST /booking` tells nobody whether an ID holds a booking (issue 23): what the answers may
//! depend on, through the HTTP handlers on a real Redis and a Redis Cluster.
use lambda_http::http::StatusCode;

use crate::helpers::{AppOptions, RedisMode, exact, person_id, spawn_app_with};

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
