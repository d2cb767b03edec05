//! The API's own documentation: the OpenAPI document and a page that renders it. The page is
//! self-contained (no script or style from elsewhere), so it works offline and the build
//! downloads nothing.
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

use super::ApiError;
use super::openapi::openapi_document;
use super::page::booking_page;
use super::request::require_method;
use super::security::page_policy;
use std::sync::LazyLock;

#[allow(unused_imports)] // Named only inside the #[utoipa::path] attributes.
use super::openapi::{HtmlSchema, OpenApiDocumentSchema};

const DOCS_PAGE: &str = include_str!("docs.html");

/// A static document, answered to GET only; a page with its policy (see [`page_policy`]).
pub(super) fn get_document(
    request: &Request,
    content_type: &'static str,
    body: &'static str,
    policy: Option<&'static str>,
) -> Response<Body> {
    match require_method(request, "GET") {
        Ok(()) => document(content_type, body, policy),
        Err(error) => error.into_response(),
    }
}

fn document(
    content_type: &'static str,
    body: &'static str,
    policy: Option<&'static str>,
) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_owned()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(policy) = policy {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
    }
    // Changes only with a deployment.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// The OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = OpenApiDocumentSchema)),
)]
pub async fn openapi_json(request: Request) -> Response<Body> {
    get_document(&request, "application/json", openapi_document(), None)
}

/// An interactive page that renders the OpenAPI document and sends requests from the browser.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    operation_id = "docs",
    responses((status = 200, description = "The interactive API page", body = HtmlSchema, content_type = "text/html")),
)]
pub async fn docs_page(request: Request) -> Response<Body> {
    static POLICY: LazyLock<String> = LazyLock::new(|| page_policy(DOCS_PAGE));
    get_document(
        &request,
        "text/html; charset=utf-8",
        DOCS_PAGE,
        Some(&POLICY),
    )
}

/// The `api-docs` function: every static document (the two documentation paths, and the booking
/// page at `/`), told apart by the path's last segment so it works under any prefix
/// (`/lambda-url/api-docs/...`, a stage name). One function for all three: they change only
/// with a deployment, and one warm container serves them all.
pub async fn api_docs(request: Request) -> Response<Body> {
    let path = crate::request::route_path(&request);
    let last = path.strip_suffix('/').unwrap_or(path).rsplit('/').next();
    match last {
        Some("openapi.json") => openapi_json(request).await,
        Some("docs") => docs_page(request).await,
        Some("") => booking_page(request).await,
        _ => ApiError::route_not_found().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http;

    use super::*;

    fn call(method: &str, path: &str) -> Response<Body> {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::Empty)
            .unwrap();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(api_docs(request))
    }

    #[test]
    fn both_documents_are_served_under_any_prefix() {
        let cases = [
            ("GET", "/openapi.json", 200, "application/json"),
            (
                "GET",
                "/lambda-url/api-docs/openapi.json",
                200,
                "application/json",
            ),
            ("GET", "/docs", 200, "text/html; charset=utf-8"),
            ("GET", "/prod/docs/", 200, "text/html; charset=utf-8"),
            ("GET", "/docs/extra", 404, "application/json"),
            ("GET", "/", 200, "text/html; charset=utf-8"),
            ("HEAD", "/", 405, "application/json"),
            ("POST", "/openapi.json", 405, "application/json"),
        ];
        for (method, path, status, content_type) in cases {
            let response = call(method, path);
            assert_eq!(response.status(), status, "{method} {path}");
            assert_eq!(response.headers()["content-type"], content_type, "{path}");
        }
        let Body::Text(page) = call("GET", "/docs").into_body() else {
            panic!("the page is text");
        };
        // Offline by design: nothing is loaded from another origin.
        assert!(
            !page.contains("://"),
            "the docs page loads nothing from elsewhere"
        );
        assert!(page.contains("fetch(\"openapi.json\")"));
    }

    /// A REST API stage (`Prod`) as lambda_http hands it over: the stage before the path in
    /// the URI, the path as sent beside it. The page at the stage's root is the page.
    #[test]
    fn a_named_stage_serves_the_page_at_its_root() {
        use lambda_http::RequestExt;
        for (uri, sent, content_type) in [
            ("/Prod/", "/", "text/html; charset=utf-8"),
            ("/Prod/openapi.json", "/openapi.json", "application/json"),
        ] {
            let request = http::Request::builder()
                .uri(uri)
                .body(Body::Empty)
                .unwrap()
                .with_raw_http_path(sent);
            let response = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(api_docs(request));
            assert_eq!(response.status(), 200, "{uri}");
            assert_eq!(response.headers()["content-type"], content_type, "{uri}");
        }
    }
}
