//! The answer for a request no endpoint took: 405 `method_not_allowed` (with `Allow`) when the
//! path is an endpoint's and only the method is wrong, else 404 `route_not_found`. `local-api`'s
//! router ends in it, and so does API Gateway through the `route-fallback` function on the
//! `$default` route, so the error contract holds when deployed too. The endpoints are read from
//! the OpenAPI document, which a test keeps equal to the code: a new route is known here
//! without anyone remembering to list it.
use std::sync::LazyLock;

use lambda_http::{Body, Request, Response};
use serde_json::Value;

use super::ApiError;
use super::openapi::openapi_document;

/// An endpoint's path split into segments (`None` for a `{parameter}`) and the methods it takes,
/// as an `Allow` header lists them.
struct Endpoint {
    segments: Vec<Option<String>>,
    allow: &'static str,
}

static ENDPOINTS: LazyLock<Vec<Endpoint>> = LazyLock::new(|| {
    let document: Value =
        serde_json::from_str(openapi_document()).expect("the OpenAPI document is JSON");
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    paths
        .into_iter()
        .map(|(path, item)| {
            let methods: Vec<String> = item
                .as_object()
                .map(|operations| {
                    operations
                        .keys()
                        .filter(|key| HTTP_METHODS.contains(&key.as_str()))
                        .map(|method| method.to_ascii_uppercase())
                        .collect()
                })
                .unwrap_or_default();
            let segments = path
                .split('/')
                .skip(1)
                .map(|segment| (!segment.starts_with('{')).then(|| segment.to_owned()))
                .collect();
            Endpoint {
                segments,
                // Once per process, for the `&'static str` the error type carries.
                allow: Box::leak(methods.join(", ").into_boxed_str()),
            }
        })
        .collect()
});

/// The operation keys of an OpenAPI path item (the rest are `parameters`, `summary`, ...).
const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// 405 with the path's methods when some endpoint has this path, else 404.
pub fn unrouted(request: &Request) -> Response<Body> {
    match allowed_methods(crate::request::route_path(request)) {
        Some(allow) => ApiError::method_not_allowed(allow),
        None => ApiError::route_not_found(),
    }
    .into_response()
}

fn allowed_methods(path: &str) -> Option<&'static str> {
    let mut segments: Vec<&str> = path.split('/').skip(1).collect();
    // As the router: `/booking/X/` is `/booking/X`, but `/booking/` is not `/booking`.
    if segments.len() > 2 && segments.last() == Some(&"") {
        segments.pop();
    }
    ENDPOINTS
        .iter()
        .find(|endpoint| {
            endpoint.segments.len() == segments.len()
                && endpoint
                    .segments
                    .iter()
                    .zip(&segments)
                    .all(|(expected, got)| match expected {
                        Some(literal) => literal == got,
                        None => !got.is_empty(),
                    })
        })
        .map(|endpoint| endpoint.allow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::{Method, StatusCode, header};

    fn answer(method: Method, path: &str) -> (StatusCode, Value, Option<String>) {
        let request = lambda_http::http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::Empty)
            .unwrap();
        let response = unrouted(&request);
        let allow = response
            .headers()
            .get(header::ALLOW)
            .map(|value| value.to_str().unwrap().to_owned());
        let body = match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("a JSON body, got {other:?}"),
        };
        (response.status(), body, allow)
    }

    /// Under a REST API stage the URI starts with the stage (`/Prod/stations`); the path the
    /// client sent is what has methods.
    #[test]
    fn a_named_stage_is_not_part_of_the_path() {
        use lambda_http::RequestExt;
        let request = lambda_http::http::Request::builder()
            .method(Method::POST)
            .uri("/Prod/stations")
            .body(Body::Empty)
            .unwrap()
            .with_raw_http_path("/stations");
        let response = unrouted(&request);
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET");
    }

    #[test]
    fn a_known_path_with_another_method_is_405_with_its_methods() {
        let cases = [
            (Method::PUT, "/booking/900127015527", "GET, DELETE, PATCH"),
            (Method::POST, "/booking/900127015527/", "GET, DELETE, PATCH"),
            (Method::GET, "/booking", "POST"),
            (Method::DELETE, "/stations/PWTC", "GET"),
            (Method::POST, "/healthz", "GET"),
            (Method::POST, "/openapi.json", "GET"),
            (Method::PUT, "/docs", "GET"),
            (Method::POST, "/", "GET"),
            (Method::DELETE, "/stations", "GET"),
        ];
        for (method, path, allow) in cases {
            let (status, body, got_allow) = answer(method.clone(), path);
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(body["error"], "method_not_allowed", "{method} {path}");
            let mut got: Vec<String> = got_allow.unwrap().split(", ").map(str::to_owned).collect();
            let mut wanted: Vec<&str> = allow.split(", ").collect();
            got.sort();
            wanted.sort_unstable();
            assert_eq!(got, wanted, "{method} {path}");
        }
    }

    #[test]
    fn any_other_path_is_404_route_not_found() {
        for path in [
            "//",
            "/metrics",
            "/booking/",
            "/booking/1/extra",
            "/station",
            "/stations/PWTC/extra",
            "/Booking",
            "/openapi.json/x",
        ] {
            let (status, body, allow) = answer(Method::GET, path);
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(body["error"], "route_not_found", "{path}");
            assert!(body["message"].is_string());
            assert_eq!(allow, None, "{path}");
        }
    }

    #[test]
    fn every_documented_operation_is_known() {
        let document: Value = serde_json::from_str(openapi_document()).unwrap();
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.len() >= 6, "the document lists the endpoints");
        for (path, item) in paths {
            let concrete = path
                .split('/')
                .map(|s| if s.starts_with('{') { "X" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let allow = allowed_methods(&concrete).unwrap_or_else(|| panic!("{path} unknown"));
            for method in item.as_object().unwrap().keys() {
                if HTTP_METHODS.contains(&method.as_str()) {
                    assert!(
                        allow.contains(&method.to_ascii_uppercase()),
                        "{path}: {method} missing from {allow}"
                    );
                }
            }
        }
    }
}
