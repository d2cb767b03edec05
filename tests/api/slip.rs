//! The slip and the calendar entry, through get-booking's handler on a real redis-server: a
//! centre reads the slip's QR code with a camera and checks it with the public key alone.
use booking_core::check_in::{CheckInError, verify};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};

use crate::helpers::{AppOptions, RedisMode, TestApp, authorized, spawn_app_with, test_check_in};

const ID: &str = "900127015527";

async fn booked() -> (TestApp, String) {
    let app = spawn_app_with(AppOptions::on(RedisMode::Single)).await;
    app.seed(2, &[("PWTC", 10)]).await;
    let date = app.get_station("PWTC").await.body[0]["date"]
        .as_str()
        .expect("a seeded date")
        .to_owned();
    let booked = app.book(ID, "PWTC", &date).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    (app, date)
}

async fn document(app: &TestApp, path: &str, authorization: Option<&str>) -> Response<Body> {
    app.get_booking
        .handle(authorized(Method::GET, path, authorization))
        .await
}

fn text(response: &Response<Body>) -> String {
    String::from_utf8(response.body().as_ref().to_vec()).expect("UTF-8")
}

/// The slip's QR code as a camera sees it: the SVG's unit squares (`M{x} {y}h{w}v{h}...`)
/// painted at 4 pixels a module, then found and decoded by a QR reader.
fn scan(html: &str) -> String {
    let svg = &html[html.find("<svg").expect("an inline SVG")..];
    let size: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|width| width.parse().ok())
        .expect("a viewBox");
    let path = svg
        .split(" d=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a path");
    let mut dark = vec![false; size * size];
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let numbers: Vec<usize> = square
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect();
        let [x, y, w, h, ..] = numbers[..] else {
            panic!("not a rectangle: {square}")
        };
        for row in y..y + h {
            for column in x..x + w {
                dark[row * size + column] = true;
            }
        }
    }
    const SCALE: usize = 4;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(size * SCALE, size * SCALE, |x, y| {
            if dark[(y / SCALE) * size + x / SCALE] {
                0
            } else {
                255
            }
        });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the slip");
    grids[0].decode().expect("a readable QR code").1
}

#[tokio::test]
async fn the_slips_code_is_signed_by_the_service_and_names_the_booking() {
    let (app, date) = booked().await;
    let owner = app.owner_authorization(ID);
    let response = document(&app, &format!("/booking/{ID}/slip"), owner.as_deref()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let html = text(&response);
    let reference = owner.unwrap().trim_start_matches("Bearer ").to_owned();
    assert!(html.contains(&reference), "the slip shows the reference");

    let code = scan(&html);
    let public_key = test_check_in().public_key_text();
    let check_in = verify(&public_key, &code).expect("the service's signature");
    assert_eq!(check_in.date, date);
    assert_eq!(check_in.location, "PWTC");
    assert_eq!(check_in.id_last_four, &ID[ID.len() - 4..]);
    assert!(
        html.contains(&check_in.booking_number),
        "the slip shows the booking number"
    );

    // One changed character anywhere in the code and the centre's check refuses it.
    let mut altered: Vec<char> = code.chars().collect();
    let at = altered.len() / 2;
    altered[at] = if altered[at] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    assert!(matches!(
        verify(&public_key, &altered),
        Err(CheckInError::BadSignature | CheckInError::Malformed)
    ));
    // Another key (another service, a forger) does not vouch for it.
    let other = booking_core::config::check_in::check_in_key(booking_core::config::fixed_lookup(
        &[("CHECKIN_KEY", &"7".repeat(64))],
    ))
    .unwrap();
    assert_eq!(
        verify(&other.public_key_text(), &code),
        Err(CheckInError::BadSignature)
    );
}

#[tokio::test]
async fn the_calendar_entry_is_one_all_day_event_on_the_booked_date() {
    let (app, date) = booked().await;
    let owner = app.owner_authorization(ID);
    let response = document(
        &app,
        &format!("/booking/{ID}/calendar?lang=ms"),
        owner.as_deref(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = text(&response);
    assert!(
        !ics.contains(ID),
        "no ID in a calendar that syncs elsewhere"
    );
    let unfolded = icalendar::parser::unfold(&ics);
    let calendar = icalendar::parser::read_calendar(&unfolded).expect("RFC 5545");
    let events: Vec<_> = calendar
        .components
        .iter()
        .filter(|c| c.name == "VEVENT")
        .collect();
    assert_eq!(events.len(), 1);
    let start = events[0].find_prop("DTSTART").expect("DTSTART");
    assert_eq!(start.val.as_str(), date);
    assert_eq!(
        events[0]
            .find_prop("LOCATION")
            .map(|p| p.val.as_str().to_owned()),
        Some("PWTC".to_owned())
    );
}

#[tokio::test]
async fn the_slip_is_only_for_the_bookings_reference_and_speaks_the_asked_language() {
    let (app, _) = booked().await;
    for document_name in ["slip", "calendar"] {
        let path = format!("/booking/{ID}/{document_name}");
        let none = document(&app, &path, None).await;
        assert_eq!(
            none.status(),
            StatusCode::UNAUTHORIZED,
            "{path} without a reference"
        );
        let wrong = document(&app, &path, Some("Bearer 0000-0000-0000-0000-0000-0000")).await;
        assert_eq!(
            wrong.status(),
            StatusCode::NOT_FOUND,
            "{path} with a wrong reference"
        );
        let unbooked = document(
            &app,
            &format!("/booking/880412105531/{document_name}"),
            None,
        )
        .await;
        assert_eq!(unbooked.status(), StatusCode::UNAUTHORIZED);
    }
    let owner = app.owner_authorization(ID);
    for (lang, tag) in [
        ("ms", "ms"),
        ("en", "en"),
        ("zh", "zh"),
        ("ta", "ta"),
        ("xx", "ms"),
    ] {
        let response = document(
            &app,
            &format!("/booking/{ID}/slip?lang={lang}"),
            owner.as_deref(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "lang={lang}");
        assert!(
            text(&response).contains(&format!("<html lang=\"{tag}\"")),
            "lang={lang} gives a {tag} slip"
        );
    }
}
