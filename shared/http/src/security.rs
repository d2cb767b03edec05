//! Headers that tell a browser what an answer may do. Every answer: `nosniff` (a JSON error is
//! never run as script), no referrer (paths carry IDs), and no framing (`frame-ancestors
//! 'none'`, and `X-Frame-Options: DENY` for browsers that predate it). JSON answers also get
//! `default-src 'none'`: nothing in them is to be loaded or run. Pages get a policy that admits
//! exactly their own inline script and style, by hash, and calls to this origin only; so a
//! script injected into the page (a name or address rendered as HTML by mistake) does not run.
//! HSTS is the CDN's (its response headers policy): only HTTPS answers may carry it.
use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

/// The policy of an answer that is data, not a page.
pub const DATA_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds the headers every answer carries, keeping a page's own policy where it set one.
pub fn add_security_headers(headers: &mut HeaderMap) {
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(DATA_POLICY));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A self-contained page's policy: its inline `<script>` and `<style>` blocks by SHA-256,
/// requests to its own origin, images from itself or `data:` (the slip's QR code), nothing
/// else; no framing, no `<base>`, forms posting only here.
pub fn page_policy(html: &str) -> String {
    let hashes = |tag: &str| {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut sources = String::new();
        let mut rest = html;
        while let Some(start) = rest.find(&open) {
            let body = &rest[start + open.len()..];
            let end = body.find(&close).expect("every block is closed");
            let digest = Sha256::digest(&body.as_bytes()[..end]);
            let _ = write!(sources, " 'sha256-{}'", STANDARD.encode(digest));
            rest = &body[end..];
        }
        sources
    };
    format!(
        "default-src 'none'; script-src{}; style-src{}; connect-src 'self'; \
         img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        hashes("script"),
        hashes("style")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_admits_its_own_blocks_by_hash_and_nothing_else() {
        let policy = page_policy("<style>a{}</style><p>x</p><script>go()</script>");
        // `printf 'go()' | openssl dgst -sha256 -binary | base64`
        assert!(
            policy.contains("script-src 'sha256-5KYv+PUboo5h+0+YAtGRPbwv5d/QxzHslP4YGnUaxRw='"),
            "{policy}"
        );
        assert!(policy.starts_with("default-src 'none';"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe"), "{policy}");
    }

    #[test]
    fn data_answers_get_the_strict_policy_and_pages_keep_theirs() {
        let mut headers = HeaderMap::new();
        add_security_headers(&mut headers);
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], DATA_POLICY);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        let mut page = HeaderMap::new();
        page.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; script-src 'sha256-x'"),
        );
        add_security_headers(&mut page);
        assert_eq!(
            page[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; script-src 'sha256-x'"
        );
    }
}
