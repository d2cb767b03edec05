//! The booking page citizens use: one self-contained HTML page (inline style and script, nothing
//! from elsewhere) that calls the API relative to where it is served, so it belongs at the API's
//! root.
use lambda_http::{Body, Request, Response};

use std::sync::LazyLock;

use super::docs::get_document;
use super::security::page_policy;

#[allow(unused_imports)] // Named only inside the #[utoipa::path] attributes.
use super::openapi::HtmlSchema;

const BOOKING_PAGE: &str = include_str!("page.html");

/// The booking page: pick a station and date, book, then view or cancel with the reference.
#[utoipa::path(
    get,
    path = "/",
    tag = "operations",
    operation_id = "bookingPage",
    responses((status = 200, description = "The booking page (Malay, English, Simplified Chinese or Tamil)", body = HtmlSchema, content_type = "text/html")),
)]
pub async fn booking_page(request: Request) -> Response<Body> {
    static POLICY: LazyLock<String> = LazyLock::new(|| page_policy(BOOKING_PAGE));
    get_document(
        &request,
        "text/html; charset=utf-8",
        BOOKING_PAGE,
        Some(&POLICY),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_small_self_contained_and_malay_first() {
        // Four languages in one file; a phone downloads it compressed (the CDN compresses, the
        // browser test bounds that at 20 KiB, the bound that matters), this bounds the file: 80 KiB
        // since the phone-proof step.
        assert!(
            BOOKING_PAGE.len() < 80 * 1024,
            "{} bytes",
            BOOKING_PAGE.len()
        );
        assert!(
            !BOOKING_PAGE.contains("://"),
            "the booking page loads nothing from elsewhere"
        );
        assert!(!BOOKING_PAGE.contains("<script src"));
        assert!(!BOOKING_PAGE.contains("<link"));
        assert!(BOOKING_PAGE.starts_with("<!doctype html>\n<html lang=\"ms\">"));
    }

    /// The page's policy admits its script and style blocks by hash, which covers neither
    /// inline handlers (`onclick=`) nor style attributes: a page with them would break.
    #[test]
    fn the_pages_have_nothing_inline_that_their_policy_would_block() {
        for page in [BOOKING_PAGE, include_str!("docs.html")] {
            for forbidden in [
                " style=\"",
                " onclick=",
                " onload=",
                " onsubmit=",
                " oninput=",
                " onchange=",
                "javascript:",
            ] {
                assert!(!page.contains(forbidden), "{forbidden}");
            }
        }
    }
}
