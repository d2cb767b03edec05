use std::collections::HashSet;
use std::fmt;

use lambda_http::http::{StatusCode, header};
use lambda_http::{Request, RequestExt};
use serde::Deserializer;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::ApiError;
use booking_core::domain::{BookingReference, IdempotencyKey};

/// Bookings are a few hundred bytes; anything far larger is refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The path the client asked for, as routes are matched: without the API's stage, which
/// lambda_http puts in front of a named stage's requests (REST API stage `Prod`: `/Prod/docs`;
/// HTTP API's `$default` stage has none). Requests made by hand (tests, local-api) carry only
/// their URI.
pub fn route_path(request: &Request) -> &str {
    match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    }
}

/// The value of path parameter `name` in a route `/<collection>/{name}`. API Gateway sets path
/// parameters; function URLs and `cargo lambda watch` do not, so then it is the path's last
/// segment, provided the one before it is `collection`. Percent-escapes are decoded.
pub fn path_value(request: &Request, name: &str, collection: &str) -> Result<String, ApiError> {
    if let Some(value) = request.path_parameters_ref().and_then(|p| p.first(name)) {
        return Ok(value.to_owned());
    }
    let path = route_path(request);
    let path = path.strip_suffix('/').unwrap_or(path);
    let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
    let parent_segment = parent.rsplit('/').next().unwrap_or("");
    if parent_segment != collection {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("Expected a path ending in /{collection}/{{{name}}}."),
        ));
    }
    percent_decode(last)
        .ok_or_else(|| ApiError::invalid_field(name, "is not valid percent-encoded UTF-8"))
}

/// [`path_value`] for a path one segment longer, `/{collection}/{value}/{document}` (the
/// slip, the calendar): the value before the document's name.
pub fn path_value_before(
    request: &Request,
    name: &str,
    collection: &str,
    document: &str,
) -> Result<String, ApiError> {
    if let Some(value) = request.path_parameters_ref().and_then(|p| p.first(name)) {
        return Ok(value.to_owned());
    }
    let path = request.uri().path();
    let path = path.strip_suffix('/').unwrap_or(path);
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("Expected a path ending in /{collection}/{{{name}}}/{document}."),
        )
    };
    let rest = path
        .strip_suffix(document)
        .and_then(|rest| rest.strip_suffix('/'))
        .ok_or_else(not_found)?;
    let (parent, value) = rest.rsplit_once('/').ok_or_else(not_found)?;
    if parent.rsplit('/').next() != Some(collection) {
        return Err(not_found());
    }
    percent_decode(value)
        .ok_or_else(|| ApiError::invalid_field(name, "is not valid percent-encoded UTF-8"))
}

/// None for a malformed escape or bytes that are not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// The booking reference from `Authorization: Bearer <reference>`. No header, another scheme or
/// something that is not a reference is 401: no booking is looked up for it. The scheme is
/// case-insensitive (RFC 9110); the reference is exactly as issued.
pub(super) fn bearer_reference(request: &Request) -> Result<BookingReference, ApiError> {
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ApiError::unauthorized());
    };
    let value = value.to_str().map_err(|_| ApiError::unauthorized())?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(ApiError::unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthorized());
    }
    BookingReference::parse(token.trim_start()).ok_or_else(ApiError::unauthorized)
}

/// The attempt's `Idempotency-Key`, if the client sent one. One that is not a key, or the header
/// sent twice, is 400 naming the header: such a request is not booked, so nothing is written.
pub(super) fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = request.headers().get_all(IdempotencyKey::HEADER).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(IdempotencyKey::parse(value.as_bytes())?)),
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            IdempotencyKey::HEADER,
            "must be sent once",
        )),
    }
}

/// `method` is the one method the endpoint takes, as written in the `Allow` header.
pub(super) fn require_method(request: &Request, method: &'static str) -> Result<(), ApiError> {
    if request.method().as_str() == method {
        return Ok(());
    }
    Err(ApiError::method_not_allowed(method))
}

/// The request body as a JSON object, refusing other media types (and a missing
/// `Content-Type`), oversized bodies, malformed JSON (including nesting deeper than
/// serde_json's recursion limit), non-objects and objects that repeat a key.
pub(super) fn json_object(request: &Request) -> Result<Map<String, Value>, ApiError> {
    let essence = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|content_type| {
            content_type
                .to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as application/json.",
        ));
    }
    let body = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The body must be at most {MAX_BODY_BYTES} bytes."),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => match repeated_key(body) {
            None => Ok(object),
            Some(key) => Err(ApiError::invalid_field(
                key.chars().take(64).collect::<String>(),
                "appears more than once",
            )),
        },
        Ok(_) => Err(ApiError::malformed_json("The body must be a JSON object.")),
        Err(error) => Err(ApiError::malformed_json(format!(
            "The body is not valid JSON: {error}."
        ))),
    }
}

/// The first key a JSON object repeats, if any. serde_json keeps the last value of a repeated
/// key; another reader of the same body may keep the first, and the two would then see
/// different people. `body` is known to be a valid JSON object; only its top level is checked,
/// as every field of a request is a string.
fn repeated_key(body: &[u8]) -> Option<String> {
    struct FirstRepeat;

    impl<'de> Visitor<'de> for FirstRepeat {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut seen, mut repeated) = (HashSet::new(), None);
            // To the end: serde_json refuses a map left half read.
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if repeated.is_none() && !seen.insert(key.clone()) {
                    repeated = Some(key);
                }
            }
            Ok(repeated)
        }
    }

    serde_json::Deserializer::from_slice(body)
        .deserialize_map(FirstRepeat)
        .ok()
        .flatten()
}

/// Takes the string fields `names` out of `object`. A missing field, a non-string value or a
/// field the API does not know is refused and named: a typo such as `mysejahteraID` must not
/// silently become a missing ID.
pub(super) fn string_fields<const N: usize>(
    mut object: Map<String, Value>,
    names: [&'static str; N],
) -> Result<[String; N], ApiError> {
    let mut values: [String; N] = std::array::from_fn(|_| String::new());
    for (value, name) in values.iter_mut().zip(names) {
        *value = match object.remove(name) {
            Some(Value::String(text)) => text,
            Some(_) => return Err(ApiError::invalid_field(name, "must be a string")),
            None => return Err(ApiError::invalid_field(name, "is required")),
        };
    }
    if let Some(unknown) = object.keys().next() {
        let shown: String = unknown.chars().take(64).collect();
        return Err(ApiError::invalid_field(
            shown,
            "is not a field of this request",
        ));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;
    use lambda_http::http;

    fn get(path: &str) -> Request {
        http::Request::builder()
            .uri(path)
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn path_values_come_from_the_path_when_no_parameters_are_set() {
        let cases = [
            ("/stations/PWTC", Some("PWTC")),
            ("/stations/PWTC/", Some("PWTC")),
            ("/lambda-url/get-station/stations/PWTC", Some("PWTC")),
            ("/prod/stations/UM", Some("UM")),
            ("/stations/stations", Some("stations")),
            ("/stations/P%57TC", Some("PWTC")),
            ("/stations/%F0%9F%92%89", Some("\u{1F489}")),
            ("/stations/", None),
            ("/booking/PWTC", None),
            ("/PWTC", None),
        ];
        for (path, expected) in cases {
            let got = path_value(&get(path), "location", "stations").ok();
            assert_eq!(got.as_deref(), expected, "{path}");
        }
    }

    #[test]
    fn repeated_keys_are_found_at_the_top_level() {
        let cases = [
            (r#"{"a":"1","b":"2"}"#, None),
            (r#"{"a":"1","b":{"c":1,"c":2},"a":"3"}"#, Some("a")),
            (r#"{"a":{"x":[1,{"y":2}]},"a":1}"#, Some("a")),
            (r#"{}"#, None),
            (
                r#"{"mysejahteraId":"880412105531","address":"Kuala Lumpur","date":"20210516","firstName":"Fadhil","lastName":"Yaacob","location":"PWTC","mysejahteraId":"900127015527","phoneNumber":"0123456789"}"#,
                Some("mysejahteraId"),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(repeated_key(body.as_bytes()).as_deref(), expected, "{body}");
        }
    }

    #[test]
    fn only_a_bearer_reference_is_taken_from_authorization() {
        let reference = BookingReference::from_mac(&[9; 32]);
        let token = reference.expose();
        let with = |values: &[&str]| {
            let mut builder = http::Request::builder().uri("/booking/1");
            for value in values {
                builder = builder.header("authorization", *value);
            }
            bearer_reference(&builder.body(Body::Empty).unwrap())
        };
        for ok in [
            format!("Bearer {token}"),
            format!("bearer {token}"),
            format!("BEARER  {token} "),
        ] {
            assert_eq!(with(&[&ok]).unwrap(), reference, "{ok}");
        }
        for bad in [
            vec![],
            vec!["".to_owned()],
            vec!["Bearer".to_owned()],
            vec![format!("Bearer{token}")],
            vec![format!("Basic {token}")],
            vec![token.to_owned()],
            vec![format!("Bearer {}", &token[1..])],
            vec![format!("Bearer {token}x")],
            vec![format!("Bearer {token} extra")],
            vec![format!("Bearer {token}"), format!("Bearer {token}")],
        ] {
            let values: Vec<&str> = bad.iter().map(String::as_str).collect();
            let error = with(&values).unwrap_err();
            assert_eq!(error.status, StatusCode::UNAUTHORIZED, "{bad:?}");
            assert_eq!(error.code, "unauthorized", "{bad:?}");
        }
    }

    #[test]
    fn invalid_escapes_are_refused() {
        for path in [
            "/stations/%FF",
            "/stations/%G1",
            "/stations/%+1",
            "/stations/abc%",
        ] {
            let err = path_value(&get(path), "location", "stations").unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{path}");
        }
    }
}
