//! Station reads as cacheable HTTP answers: a strong `ETag` of the body, `If-None-Match`
//! answered with 304, and a `Cache-Control` that promises no more freshness than is left.
use std::fmt::Write;
use std::time::Duration;

use lambda_http::http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use booking_core::station::{Rendered, Snapshot};

/// 200 with the snapshot's JSON, or 304 with no body when the request already holds it; both
/// carry the ETag and Cache-Control (RFC 9110 15.4.5 asks a 304 for both).
pub(super) fn snapshot_response<T: Serialize>(
    request: &Request,
    snapshot: &Snapshot<T>,
) -> Response<Body> {
    let rendered = snapshot.rendered(|value| {
        let body = serde_json::to_string(value).expect("responses are plain data");
        Rendered {
            tag: strong_etag(body.as_bytes()).into(),
            body,
        }
    });
    let mut response = if none_match(request.headers(), &rendered.tag) {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(Body::Text(rendered.body.clone()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_maybe_shared(rendered.tag.clone()) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        cache_control(snapshot.freshness_left()),
    );
    response
}

/// The first 128 bits of the body's SHA-256, hex, quoted: the same bytes always get the same
/// tag, in every process, so a CDN's or browser's copy revalidates against any container.
fn strong_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for byte in &digest[..16] {
        let _ = write!(tag, "{byte:02x}");
    }
    tag.push('"');
    tag
}

/// `max-age` is the whole seconds of freshness left, rounded down: an answer from a read 0.7 s
/// old says `max-age=0`, so no cache keeps it past the API's one second. A cache may then
/// still hand out the stale copy for one more second while it revalidates
/// (`stale-while-revalidate=1`): availability is a hint (the booking itself is decided
/// atomically and answers `fully_booked` when the count was stale), and without it every
/// refresh in a rush would reach a function instead of one revalidation per second and CDN
/// edge. So what a client sees is at most about two seconds old.
pub(super) fn cache_control(freshness_left: Duration) -> HeaderValue {
    match freshness_left.as_secs() {
        0 => HeaderValue::from_static("public, max-age=0, stale-while-revalidate=1"),
        1 => HeaderValue::from_static("public, max-age=1, stale-while-revalidate=1"),
        secs => HeaderValue::from_str(&format!("public, max-age={secs}, stale-while-revalidate=1"))
            .expect("digits and ASCII are a valid header value"),
    }
}

/// Whether `If-None-Match` names the current representation (RFC 9110 13.1.2): `*`, or any
/// tag of its lists under the weak comparison (`W/"x"` matches `"x"`). Every such header line
/// counts; an unreadable list stops matching where it becomes unreadable, so the worst a
/// malformed header gets is the full answer.
fn none_match(headers: &HeaderMap, tag: &[u8]) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .any(|value| list_names(value.as_bytes(), tag))
}

fn list_names(mut list: &[u8], tag: &[u8]) -> bool {
    if list.trim_ascii() == b"*" {
        return true;
    }
    loop {
        while let [b' ' | b'\t' | b',', rest @ ..] = list {
            list = rest;
        }
        if list.is_empty() {
            return false;
        }
        let opaque = list.strip_prefix(b"W/").unwrap_or(list);
        // An opaque tag is a quoted string without quotes inside (it may hold commas).
        let Some(end) = opaque
            .strip_prefix(b"\"")
            .and_then(|rest| rest.iter().position(|&b| b == b'"'))
        else {
            return false;
        };
        if &opaque[..end + 2] == tag {
            return true;
        }
        list = &opaque[end + 2..];
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http;

    use super::*;
    use booking_core::domain::{Location, Slot, SlotDate};
    use booking_core::ports::MockStationReads;
    use booking_core::station::{STATION_CACHE_MAX_AGE, StationService};

    fn get(if_none_match: Option<&str>) -> Request {
        let mut request = http::Request::builder().uri("/stations/PWTC");
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        request.body(Body::Empty).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_from_a_read_700_ms_old_promises_no_more_freshness() {
        let mut store = MockStationReads::new();
        store.expect_station_slots().times(1).returning(|_| {
            Ok(vec![Slot {
                location: Location::parse("PWTC").unwrap(),
                date: SlotDate::parse("20210516").unwrap(),
                availability: 5,
            }])
        });
        let service = StationService::cached(store, STATION_CACHE_MAX_AGE);
        let station = |request| super::super::handlers::get_station(&service, request);

        let fresh = station(get(None)).await;
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_eq!(
            fresh.headers()[header::CACHE_CONTROL],
            "public, max-age=1, stale-while-revalidate=1",
            "read this instant: the whole second is left"
        );
        let etag = fresh.headers()[header::ETAG].to_str().unwrap().to_owned();

        tokio::time::advance(std::time::Duration::from_millis(700)).await;
        let cached = station(get(None)).await;
        assert_eq!(
            cached.headers()[header::CACHE_CONTROL],
            "public, max-age=0, stale-while-revalidate=1",
            "0.7 s old: less than a second is left"
        );
        assert_eq!(cached.headers()[header::ETAG], etag.as_str());
        assert_eq!(cached.body().as_ref(), fresh.body().as_ref());

        let revalidated = station(get(Some(&etag))).await;
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
        assert!(revalidated.body().is_empty());
        assert_eq!(
            revalidated.headers()[header::CACHE_CONTROL],
            "public, max-age=0, stale-while-revalidate=1"
        );
        assert!(revalidated.headers().get(header::CONTENT_TYPE).is_none());
    }

    #[test]
    fn if_none_match_compares_weakly_and_reads_lists() {
        let tag = br#""0123abcd""#;
        let cases: [(&[&str], bool); 16] = [
            (&[r#""0123abcd""#], true),
            (&[r#"W/"0123abcd""#], true),
            (&["*"], true),
            (&[" * "], true),
            (&[r#""other", "0123abcd""#], true),
            (&[r#""other",W/"0123abcd""#], true),
            (&[r#""a,b", "0123abcd""#], true),
            (&[r#""other""#, r#""0123abcd""#], true),
            (&[r#""other""#], false),
            (&[r#""0123abcd"#], false),
            (&["0123abcd"], false),
            (&[r#"w/"0123abcd""#], false),
            (&[r#""0123ABCD""#], false),
            (&[r#"garbage, "0123abcd""#], false),
            (&[""], false),
            (&[], false),
        ];
        for (values, expected) in cases {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
            }
            assert_eq!(none_match(&headers, tag), expected, "{values:?}");
        }
    }

    #[test]
    fn etags_are_strong_and_follow_the_bytes() {
        let a = strong_etag(b"[1]");
        assert_eq!(a.len(), 34);
        assert!(a.starts_with('"') && a.ends_with('"') && !a.starts_with("W/"));
        assert_eq!(a, strong_etag(b"[1]"));
        assert_ne!(a, strong_etag(b"[2]"));
    }

    #[test]
    fn max_age_never_exceeds_the_freshness_left() {
        let cases = [
            (
                Duration::from_secs(1),
                "public, max-age=1, stale-while-revalidate=1",
            ),
            (
                Duration::from_millis(999),
                "public, max-age=0, stale-while-revalidate=1",
            ),
            (
                Duration::from_millis(300),
                "public, max-age=0, stale-while-revalidate=1",
            ),
            (
                Duration::ZERO,
                "public, max-age=0, stale-while-revalidate=1",
            ),
            (
                Duration::from_millis(2500),
                "public, max-age=2, stale-while-revalidate=1",
            ),
        ];
        for (left, expected) in cases {
            assert_eq!(cache_control(left), expected, "{left:?}");
        }
    }
}
