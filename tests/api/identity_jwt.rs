//! `IDENTITY=jwt` through the functions on a real redis-server: every endpoint that acts for a
//! person needs an identity token (RS256 or ES256, signed here with the test-only keys in
//! tests/keys/ against a JWKS in the test's temp dir) whose `mysejahtera_id` claim is the
//! request's ID; deployed, the claims API Gateway's JWT authorizer verified (payload 2.0 and
//! REST 1.0 request contexts) stand in for the token.
use std::sync::Arc;

use booking_core::identity::{IdentityRefused, TokenVerifier};
use booking_core::waiting_room::{DEFAULT_ROOM_HOURS, DEFAULT_ROOM_SIZE, RoomAdmin, SystemClock};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request};
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, TestApp, TestResponse, authorized, booking_json, person_id, request, spawn_app_in,
};

const ISSUER: &str = "https://id.test.invalid";
const AUDIENCE: &str = "vaccination-booking-tests";
const RSA_KID: &str = "test-rsa";
const EC_KID: &str = "test-ec";

const RSA_PEM: &str = include_str!("../keys/identity-test-rsa.pem");
const OTHER_RSA_PEM: &str = include_str!("../keys/identity-test-rsa-other.pem");
const EC_PEM: &str = include_str!("../keys/identity-test-ec.pem");

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("the test RSA key")
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(EC_PEM.as_bytes()).expect("the test EC key")
}

/// The provider's published keys: the public halves of the RSA and the P-256 test keys.
fn jwks() -> String {
    let public = |key: &EncodingKey, algorithm, kid: &str| {
        let mut jwk = Jwk::from_encoding_key(key, algorithm).expect("a public JWK");
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    };
    serde_json::to_string(&JwkSet {
        keys: vec![
            public(&rsa_key(), Algorithm::RS256, RSA_KID),
            public(&ec_key(), Algorithm::ES256, EC_KID),
        ],
    })
    .unwrap()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// The claims a provider signs for `id`, valid for ten minutes.
pub(crate) fn claims(id: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now(), "mysejahtera_id": id})
}

fn sign(claims: &Value, algorithm: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("signs")
}

pub(crate) fn rs256(claims: &Value) -> String {
    sign(claims, Algorithm::RS256, RSA_KID, &rsa_key())
}

fn es256(claims: &Value) -> String {
    sign(claims, Algorithm::ES256, EC_KID, &ec_key())
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `alg: none`: claims with an empty signature.
fn unsigned(claims: &Value) -> String {
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", base64url(claims.to_string().as_bytes()))
}

/// HS256 "signed" with the provider's public key as the secret: the classic key confusion.
fn hs256_with_public_key(claims: &Value) -> String {
    let public = jwks();
    let secret = EncodingKey::from_secret(public.as_bytes());
    sign(claims, Algorithm::HS256, RSA_KID, &secret)
}

/// Every token a verifier must refuse for `id`, with what it is.
fn bad_tokens(id: &str) -> Vec<(&'static str, String)> {
    let with = |key: &str, value: Value| {
        let mut claims = claims(id);
        claims[key] = value;
        claims
    };
    let without = |key: &str| {
        let mut claims = claims(id);
        claims.as_object_mut().unwrap().remove(key);
        claims
    };
    let other_key = EncodingKey::from_rsa_pem(OTHER_RSA_PEM.as_bytes()).unwrap();
    let valid = rs256(&claims(id));
    let (head, _) = valid.rsplit_once('.').unwrap();
    vec![
        ("expired", rs256(&with("exp", json!(now() - 3600)))),
        ("not yet valid", es256(&with("nbf", json!(now() + 3600)))),
        (
            "wrong issuer",
            rs256(&with("iss", json!("https://evil.invalid"))),
        ),
        ("issuer not a string", rs256(&with("iss", json!(1234)))),
        (
            "wrong audience",
            es256(&with("aud", json!("another-service"))),
        ),
        ("no expiry", rs256(&without("exp"))),
        ("no audience", rs256(&without("aud"))),
        ("no ID claim", rs256(&without("mysejahtera_id"))),
        (
            "ID claim not an ID",
            rs256(&with("mysejahtera_id", json!("nobody"))),
        ),
        (
            "ID claim a number",
            rs256(&with("mysejahtera_id", json!(900127015527_u64))),
        ),
        (
            "wrong signature",
            sign(&claims(id), Algorithm::RS256, RSA_KID, &other_key),
        ),
        (
            "unknown kid",
            sign(&claims(id), Algorithm::RS256, "rotated-away", &rsa_key()),
        ),
        (
            "EC key named for an RSA token",
            sign(&claims(id), Algorithm::ES256, RSA_KID, &ec_key()),
        ),
        ("signature cut off", format!("{head}.")),
        ("alg none", unsigned(&claims(id))),
        (
            "HS256 with the public key",
            hs256_with_public_key(&claims(id)),
        ),
        ("not a JWT", "not-a-token".into()),
        ("empty", String::new()),
    ]
}

#[test]
fn the_verifier_accepts_only_a_valid_token_and_reads_its_id_normalised() {
    let verifier = TokenVerifier::from_jwks(&jwks(), ISSUER, AUDIENCE, "mysejahtera_id").unwrap();
    let id = person_id(1);
    for token in [rs256(&claims(&id)), es256(&claims(&id))] {
        assert_eq!(verifier.verify(&token).unwrap().as_str(), id);
        let bearer = format!("Bearer {token}");
        assert_eq!(verifier.verify(&bearer).unwrap().as_str(), id);
    }
    let hyphenated = rs256(&claims("900127-01-5527"));
    assert_eq!(
        verifier.verify(&hyphenated).unwrap().as_str(),
        "900127015527"
    );
    for (what, token) in bad_tokens(&id) {
        match verifier.verify(&token) {
            Err(IdentityRefused::Invalid(_) | IdentityRefused::NoIdClaim { .. }) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
    let ec_only = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
    let error = TokenVerifier::from_jwks(ec_only, ISSUER, AUDIENCE, "sub").unwrap_err();
    assert_eq!(
        error.variable, "IDENTITY_JWKS",
        "a JWKS with no signing key is refused"
    );
}

/// The functions with `IDENTITY=jwt` and the provider's JWKS in a file; the temp dir goes
/// with it.
async fn spawn_jwt_app() -> (TestApp, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("jwks.json");
    std::fs::write(&path, jwks()).unwrap();
    let app = spawn_app_in(
        AppOptions::default(),
        &[
            ("IDENTITY", "jwt"),
            ("IDENTITY_JWKS", path.to_str().unwrap()),
            ("IDENTITY_ISSUER", ISSUER),
            ("IDENTITY_AUDIENCE", AUDIENCE),
        ],
    )
    .await;
    app.seed(3, &[("PWTC", 10), ("UM", 10)]).await;
    (app, dir)
}

mod tempdir {
    /// A directory of its own under the temp dir, removed on drop.
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!(
                "identity-jwt-test-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn with_token(mut request: Request, token: Option<&str>) -> Request {
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("x-identity-token", token.parse().unwrap());
    }
    request
}

/// The endpoints that act for a person, each as its function answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Act {
    Book,
    Read,
    Slip,
    Calendar,
    Move,
    Cancel,
    Queue,
}

pub(crate) const EVERY_ACT: [Act; 7] = [
    Act::Book,
    Act::Read,
    Act::Slip,
    Act::Calendar,
    Act::Move,
    Act::Queue,
    Act::Cancel,
];

/// The status and, for an error, its code (slips and calendars are not JSON).
pub(crate) async fn act(
    app: &TestApp,
    act: Act,
    id: &str,
    reference: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, String) {
    let bearer = reference.map(|reference| format!("Bearer {reference}"));
    let bearer = bearer.as_deref();
    let path = format!("/booking/{id}");
    let response = match act {
        Act::Book => {
            let body = booking_json(id, "PWTC", "20210516");
            let request = with_token(request(Method::POST, "/booking", body), token);
            app.create_booking.handle(request).await
        }
        Act::Read => {
            let request = with_token(authorized(Method::GET, &path, bearer), token);
            app.get_booking.handle(request).await
        }
        Act::Slip | Act::Calendar => {
            let document = if matches!(act, Act::Slip) {
                "slip"
            } else {
                "calendar"
            };
            let path = format!("{path}/{document}");
            let request = with_token(authorized(Method::GET, &path, bearer), token);
            app.get_booking.handle(request).await
        }
        Act::Move => {
            let body = json!({"location": "UM", "date": "20210517"}).to_string();
            let mut request = request(Method::PATCH, &path, body);
            if let Some(bearer) = bearer {
                request
                    .headers_mut()
                    .insert("authorization", bearer.parse().unwrap());
            }
            app.move_booking.handle(with_token(request, token)).await
        }
        Act::Cancel => {
            let request = with_token(authorized(Method::DELETE, &path, bearer), token);
            app.cancel_booking.handle(request).await
        }
        Act::Queue => {
            let body = json!({ "mysejahteraId": id }).to_string();
            let request = with_token(request(Method::POST, "/queue", body), token);
            app.queue_join.handle(request).await
        }
    };
    let status = response.status();
    let code = serde_json::from_slice::<Value>(response.body().as_ref())
        .ok()
        .and_then(|body| body["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

pub(crate) async fn open_room(app: &TestApp) {
    RoomAdmin::new(Arc::new(app.store.clone()), Arc::new(SystemClock))
        .open(DEFAULT_ROOM_HOURS, DEFAULT_ROOM_SIZE)
        .await
        .expect("the room opens");
}

/// Books `id` with its own token; the reference it got.
async fn book_as_owner(app: &TestApp, id: &str, token: &str) -> String {
    let body = booking_json(id, "PWTC", "20210516");
    let request = with_token(request(Method::POST, "/booking", body), Some(token));
    let reply: TestResponse = app.create_booking.handle(request).await.into();
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["bookingReference"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_persons_own_token_books_reads_moves_queues_and_cancels() {
    let (app, _dir) = spawn_jwt_app().await;
    open_room(&app).await;
    let id = person_id(1);
    // RS256 books, ES256 (the other key of the set) does the rest.
    let reference = book_as_owner(&app, &id, &rs256(&claims(&id))).await;
    let token = es256(&claims(&id));
    for (step, expected) in [
        (Act::Read, StatusCode::OK),
        (Act::Slip, StatusCode::OK),
        (Act::Calendar, StatusCode::OK),
        (Act::Move, StatusCode::OK),
        (Act::Queue, StatusCode::CREATED),
        (Act::Cancel, StatusCode::OK),
    ] {
        let (status, code) = act(&app, step, &id, Some(&reference), Some(&token)).await;
        assert_eq!(status, expected, "{step:?}: {code}");
    }
    assert_eq!(app.remaining("UM", "20210517").await, Some(10), "cancelled");
}

#[tokio::test]
async fn without_a_valid_token_every_act_is_401_and_changes_nothing() {
    let (app, _dir) = spawn_jwt_app().await;
    open_room(&app).await;
    let id = person_id(2);
    let reference = book_as_owner(&app, &id, &rs256(&claims(&id))).await;
    let before = app.snapshot().await;
    let mut tokens: Vec<(&str, Option<String>)> = vec![("no token", None)];
    tokens.extend(
        bad_tokens(&id)
            .into_iter()
            .map(|(what, token)| (what, Some(token))),
    );
    for (what, token) in &tokens {
        for step in EVERY_ACT {
            let (status, code) = act(&app, step, &id, Some(&reference), token.as_deref()).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "{what}, {step:?}"
            );
        }
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "nothing was written or read into being"
    );
}

#[tokio::test]
async fn another_persons_token_is_403_identity_mismatch_on_every_act() {
    let (app, _dir) = spawn_jwt_app().await;
    open_room(&app).await;
    let victim = person_id(3);
    let attacker = person_id(4);
    // The victim's booking and reference: even holding the reference (shown to a helper, say)
    // the attacker's own valid token does not act for the victim.
    let reference = book_as_owner(&app, &victim, &rs256(&claims(&victim))).await;
    let before = app.snapshot().await;
    let attackers_token = rs256(&claims(&attacker));
    // Every act is tried, so a failure names each endpoint that let the attacker through.
    let mut let_through = Vec::new();
    for step in EVERY_ACT {
        let reference = Some(reference.as_str());
        let (status, code) = act(&app, step, &victim, reference, Some(&attackers_token)).await;
        if (status, code.as_str()) != (StatusCode::FORBIDDEN, "identity_mismatch") {
            let_through.push((step, status, code));
        }
    }
    assert!(
        let_through.is_empty(),
        "not 403 identity_mismatch: {let_through:?}"
    );
    assert_eq!(
        app.snapshot().await,
        before,
        "the victim's booking and place are untouched"
    );
    // An unbooked victim: the attacker cannot book or queue in their name either.
    let unbooked = person_id(5);
    for step in [Act::Book, Act::Queue] {
        let (status, code) = act(&app, step, &unbooked, None, Some(&attackers_token)).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "identity_mismatch")
        );
    }
    let (status, _) = act(
        &app,
        Act::Read,
        &victim,
        Some(&reference),
        Some(&rs256(&claims(&victim))),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the victim still reads their booking"
    );
}

#[tokio::test]
async fn a_hyphenated_id_in_the_claim_is_the_plain_id_and_one_person() {
    let (app, _dir) = spawn_jwt_app().await;
    let token = rs256(&claims("900127-01-5527"));
    let reference = book_as_owner(&app, "900127015527", &token).await;
    let (status, _) = act(
        &app,
        Act::Read,
        "900127-01-5527",
        Some(&reference),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The printed form with the plain claim is the same person: the identical retry, not a
    // second booking.
    let plain = rs256(&claims("900127015527"));
    let (status, code) = act(&app, Act::Book, "900127-01-5527", None, Some(&plain)).await;
    assert_eq!(status, StatusCode::OK, "{code}");
    assert_eq!(app.count_keys("booking:*").await, 1);
}

#[tokio::test]
async fn a_malformed_request_is_400_before_any_identity_check() {
    let (app, _dir) = spawn_jwt_app().await;
    for step in [Act::Book, Act::Read, Act::Cancel, Act::Queue] {
        let (status, code) = act(
            &app,
            step,
            "12345",
            Some("K7QM-2XPA-9DFR-HT3W-ZB8N-6C4E"),
            None,
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_field"),
            "{step:?}"
        );
    }
}

/// An API Gateway event for `method path` with `body`, its authorizer's claims in the payload's
/// own place: 2.0 `requestContext.authorizer.jwt.claims` (strings), 1.0
/// `requestContext.authorizer.claims`.
fn gateway_request(version: &str, method: &str, path: &str, body: &str, claims: Value) -> Request {
    let headers = json!({"content-type": "application/json"});
    let event = if version == "2.0" {
        json!({
            "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path,
            "rawQueryString": "", "headers": headers, "body": body, "isBase64Encoded": false,
            "requestContext": {
                "accountId": "123456789012", "apiId": "test", "domainName": "127.0.0.1",
                "domainPrefix": "test", "requestId": "identity", "routeKey": format!("{method} {path}"),
                "stage": "$default", "time": "16/May/2021:08:00:00 +0000", "timeEpoch": 1621152000000_u64,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1", "userAgent": "test"},
                "authorizer": {"jwt": {"claims": claims, "scopes": null}}
            }
        })
    } else {
        json!({
            "resource": path, "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {"content-type": ["application/json"]},
            "body": body, "isBase64Encoded": false,
            "requestContext": {
                "accountId": "123456789012", "apiId": "test", "resourceId": "r", "stage": "prod",
                "requestId": "identity", "httpMethod": method, "path": path,
                "resourcePath": path, "identity": {"sourceIp": "127.0.0.1"},
                "authorizer": {"claims": claims}
            }
        })
    };
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event")
}

#[tokio::test]
async fn the_gateways_verified_claims_stand_in_for_the_token_in_both_payloads() {
    // Deployed behind the JWT authorizer: no JWKS, the gateway verified the token.
    let app = spawn_app_in(AppOptions::default(), &[("IDENTITY", "jwt")]).await;
    app.seed(1, &[("PWTC", 10)]).await;
    let (own, other) = (person_id(6), person_id(7));
    for (version, id) in [("2.0", &own), ("1.0", &other)] {
        // The claims name `id`: booking `id` is 201, booking someone else 403.
        for (booked, expected) in [
            (id.clone(), (StatusCode::CREATED, "")),
            (person_id(8), (StatusCode::FORBIDDEN, "identity_mismatch")),
        ] {
            let body = booking_json(&booked, "PWTC", "20210516");
            let claims = json!({"mysejahtera_id": id});
            let book = gateway_request(version, "POST", "/booking", &body, claims);
            let reply: TestResponse = app.create_booking.handle(book).await.into();
            assert_eq!((reply.status, reply.error_code()), expected, "{version}");
        }
    }
    // No gateway claims and no JWKS to verify a token with: nobody gets in.
    let token = rs256(&claims(&person_id(8)));
    for token in [None, Some(token.as_str())] {
        let (status, code) = act(&app, Act::Book, &person_id(8), None, token).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
    }
}

#[tokio::test]
async fn identity_none_leaves_every_endpoint_as_it_was() {
    let app = spawn_app_in(AppOptions::default(), &[("IDENTITY", "none")]).await;
    app.seed(1, &[("PWTC", 10)]).await;
    let id = person_id(9);
    let (status, _) = act(&app, Act::Book, &id, None, None).await;
    assert_eq!(status, StatusCode::CREATED, "no token needed");
    let request = with_token(request(Method::GET, "/healthz", Body::Empty), None);
    assert_eq!(app.healthz.handle(request).await.status(), StatusCode::OK);
}
