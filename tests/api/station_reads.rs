//! `GET /stations` and what both station reads share: a strong ETag of the body, 304 for
//! `If-None-Match`, and a Cache-Control that promises no more than is left.
use lambda_http::http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Response};
use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::helpers::{AppOptions, RedisMode, spawn_app_with};
use crate::helpers::{TestApp, request, spawn_app};

/// A reply as sent: a 304 has no body at all, so it is not parsed.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

impl From<Response<Body>> for Reply {
    fn from(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        }
    }
}

impl TestApp {
    /// Through the one entry point get-station runs for both routes.
    async fn read(&self, path: &str, if_none_match: &[&str]) -> Reply {
        let mut request = request(Method::GET, path, Body::Empty);
        for value in if_none_match {
            request
                .headers_mut()
                .append("if-none-match", value.parse().unwrap());
        }
        booking_http::station_reads(self.stations(), request)
            .await
            .into()
    }
}

async fn the_list_holds_every_station_sorted_with_sorted_dates(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(2, &[("UM", 50), ("PWTC", 1000)]).await;
    app.seed(1, &[("IDCC", 3)]).await;
    let mut connection = app.connection.clone();
    // Dates written out of order, and a set member without dates (nobody could book there).
    let _: () = connection
        .hset("slots:{PWTC}", "20210515", 7)
        .await
        .unwrap();
    let _: () = connection.sadd("stations", "EMPTY").await.unwrap();

    let reply = app.read("/stations", &[]).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(
        reply.json(),
        json!([
            {"location": "IDCC", "dates": [{"date": "20210516", "availability": 3}]},
            {"location": "PWTC", "dates": [
                {"date": "20210515", "availability": 7},
                {"date": "20210516", "availability": 1000},
                {"date": "20210517", "availability": 1000}]},
            {"location": "UM", "dates": [
                {"date": "20210516", "availability": 50},
                {"date": "20210517", "availability": 50}]},
        ])
    );
    assert!(
        [
            "public, max-age=0, stale-while-revalidate=1",
            "public, max-age=1, stale-while-revalidate=1"
        ]
        .contains(&reply.header("cache-control"))
    );
}

in_both_modes!(the_list_holds_every_station_sorted_with_sorted_dates);

async fn without_stations_the_list_is_empty(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    let reply = app.read("/stations", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!([]));
}

in_both_modes!(without_stations_the_list_is_empty);

async fn both_routes_answer_304_while_nothing_changed(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(2, &[("PWTC", 5), ("UM", 5)]).await;
    for path in ["/stations", "/stations/PWTC"] {
        let first = app.read(path, &[]).await;
        let etag = first.header("etag").to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
            "{path}: a strong tag, {etag}"
        );
        assert_eq!(app.read(path, &[]).await.header("etag"), etag, "{path}");

        let weak = format!("W/{etag}");
        let listed = format!("\"elsewhere\", {etag}");
        for held in [
            [etag.as_str()].as_slice(),
            &[&weak],
            &[&listed],
            &["\"x\"", &etag],
            &["*"],
        ] {
            let reply = app.read(path, held).await;
            assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{path} {held:?}");
            assert!(reply.body.is_empty(), "{path} {held:?}: no body");
            assert_eq!(reply.header("etag"), etag, "{path} {held:?}");
            assert!(
                reply
                    .header("cache-control")
                    .starts_with("public, max-age=")
            );
        }
        let reply = app.read(path, &["\"elsewhere\""]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: another tag");
        assert_eq!(reply.body, first.body);
    }
}

in_both_modes!(both_routes_answer_304_while_nothing_changed);

async fn a_booking_changes_the_etag(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    let before = [
        app.read("/stations", &[]).await,
        app.read("/stations/PWTC", &[]).await,
    ];

    assert_eq!(
        app.book("900127015527", "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );

    for (path, old) in ["/stations", "/stations/PWTC"].into_iter().zip(before) {
        let reply = app.read(path, &[old.header("etag")]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: the old tag is stale");
        assert_ne!(reply.header("etag"), old.header("etag"), "{path}");
        assert!(
            reply.json().to_string().contains("\"availability\":4"),
            "{path}"
        );
    }
}

in_both_modes!(a_booking_changes_the_etag);

async fn an_unknown_station_is_404_whatever_the_client_holds(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    for held in [[].as_slice(), &["*"]] {
        let reply = app.read("/stations/NOPE", held).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{held:?}");
        assert_eq!(reply.json()["error"], "station_not_found");
        assert!(reply.headers.get("etag").is_none());
        assert_eq!(reply.header("cache-control"), "no-store");
    }
}

in_both_modes!(an_unknown_station_is_404_whatever_the_client_holds);

async fn one_function_tells_the_two_routes_apart(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    let list = app.read("/stations", &[]).await.json();
    let station = app.read("/stations/PWTC", &[]).await.json();
    assert!(list.as_array().unwrap()[0]["dates"].is_array());
    assert!(station.as_array().unwrap()[0]["date"].is_string());
    let cases = [
        ("/stations/", &list),
        ("/lambda-url/get-station/stations", &list),
        ("/prod/stations", &list),
        ("/lambda-url/get-station/stations/PWTC", &station),
    ];
    for (path, expected) in cases {
        let reply = app.read(path, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(&reply.json(), expected, "{path}");
    }
    // A station may be called `stations`: that is the station, not the list.
    let reply = app.read("/stations/stations", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"], "station_not_found");

    let post = request(Method::POST, "/stations", Body::Empty);
    let reply: Reply = booking_http::station_reads(app.stations(), post)
        .await
        .into();
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

in_both_modes!(one_function_tells_the_two_routes_apart);

#[tokio::test]
async fn a_store_fault_is_503_on_the_list() {
    let mut app = spawn_app().await;
    app.seed(1, &[("PWTC", 5)]).await;
    app.redis.stop();
    let reply = app.read("/stations", &[]).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["error"], "store_unavailable");
}

async fn a_station_set_edited_by_hand_is_a_clear_error_not_a_shorter_list(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed(1, &[("PWTC", 5)]).await;
    let mut connection = app.connection.clone();
    let _: () = connection.sadd("stations", "not a code").await.unwrap();
    let reply = app.read("/stations", &[]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json()["error"], "internal_error");
}

in_both_modes!(a_station_set_edited_by_hand_is_a_clear_error_not_a_shorter_list);

impl TestApp {
    /// A seed event as the seed function gets it.
    async fn seed_event(&self, json: &str) -> Result<Value, lambda_runtime::Error> {
        self.seed_function.handle(serde_json::from_str(json)?).await
    }
}

async fn the_list_shows_the_names_and_addresses_the_seed_gave(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed_event(
        r#"{"startDate": "20210516", "days": 1, "stations": [
            {"location": "PWTC", "dailyCapacity": 5, "name": " Pusat Dagangan Dunia Putra ",
             "address": "41, Jalan Tun Ismail, 50480 Kuala Lumpur"},
            {"location": "UM", "dailyCapacity": 5, "name": "Universiti Malaya"},
            {"location": "IDCC", "dailyCapacity": 5}]}"#,
    )
    .await
    .unwrap();
    assert_eq!(
        app.book("900127015527", "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );

    let reply = app.read("/stations", &[]).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!([
            {"location": "IDCC", "dates": [{"date": "20210516", "availability": 5}]},
            {"location": "PWTC", "name": "Pusat Dagangan Dunia Putra",
             "address": "41, Jalan Tun Ismail, 50480 Kuala Lumpur",
             "dates": [{"date": "20210516", "availability": 4}]},
            {"location": "UM", "name": "Universiti Malaya",
             "dates": [{"date": "20210516", "availability": 5}]},
        ])
    );
    // One station's dates keep their shape: no details in them.
    let station = app.read("/stations/PWTC", &[]).await.json();
    assert_eq!(
        station,
        json!([{"location": "PWTC", "date": "20210516", "availability": 4}])
    );
}

in_both_modes!(the_list_shows_the_names_and_addresses_the_seed_gave);

async fn a_seed_without_details_keeps_them_and_one_with_a_detail_replaces_only_it(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    let named = r#"{"startDate": "20210516", "days": 1, "stations": [
        {"location": "PWTC", "dailyCapacity": 5, "name": "PWTC Hall", "address": "Kuala Lumpur"}]}"#;
    app.seed_event(named).await.unwrap();
    assert_eq!(
        app.book("900127015527", "PWTC", "20210516").await.status,
        StatusCode::CREATED
    );
    let pwtc = |reply: Reply| reply.json()[0].clone();

    // An old seed (no details) over the named station: the names stay, the live counter too,
    // and its new date is listed under them.
    app.seed_event(
        r#"{"startDate": "20210516", "days": 2, "stations": [{"location": "PWTC", "dailyCapacity": 5}]}"#,
    )
    .await
    .unwrap();
    let listed = pwtc(app.read("/stations", &[]).await);
    assert_eq!(listed["name"], "PWTC Hall");
    assert_eq!(listed["address"], "Kuala Lumpur");
    assert_eq!(
        listed["dates"],
        json!([{"date": "20210516", "availability": 4}, {"date": "20210517", "availability": 5}])
    );

    // A new name over existing dates: written although every date is skipped; the address
    // it left out stays.
    let report = app
        .seed_event(
            r#"{"startDate": "20210516", "days": 2, "stations": [
                {"location": "PWTC", "dailyCapacity": 5, "name": "World Trade Centre KL"}]}"#,
        )
        .await
        .unwrap();
    assert_eq!(report["datesSkipped"], 2);
    let listed = pwtc(app.read("/stations", &[]).await);
    assert_eq!(listed["name"], "World Trade Centre KL");
    assert_eq!(listed["address"], "Kuala Lumpur");
    assert_eq!(listed["dates"][0]["availability"], 4);
}

in_both_modes!(a_seed_without_details_keeps_them_and_one_with_a_detail_replaces_only_it);

async fn a_seed_with_a_bad_name_or_address_writes_nothing(mode: RedisMode) {
    let app = spawn_app_with(AppOptions::on(mode)).await;
    app.seed_event(
        r#"{"startDate": "20210516", "days": 1, "stations": [
        {"location": "PWTC", "dailyCapacity": 5, "name": "PWTC Hall"}]}"#,
    )
    .await
    .unwrap();
    let before = app.snapshot().await;
    let long_address = "a".repeat(301);
    for (station, field) in [
        (
            json!({"location": "UM", "dailyCapacity": 5, "name": "UM\u{202e}"}),
            "name",
        ),
        (
            json!({"location": "UM", "dailyCapacity": 5, "name": "  "}),
            "name",
        ),
        (
            json!({"location": "UM", "dailyCapacity": 5, "address": long_address}),
            "address",
        ),
    ] {
        // The good station first: nothing of it is written either.
        let event = json!({"startDate": "20210516", "days": 1, "stations": [
            {"location": "PWTC", "dailyCapacity": 5, "name": "Renamed"}, station]});
        let error = app
            .seed_event(&event.to_string())
            .await
            .err()
            .map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains(field)),
            "{event}: {error:?}"
        );
        assert_eq!(app.snapshot().await, before, "{event}");
    }
}

in_both_modes!(a_seed_with_a_bad_name_or_address_writes_nothing);
