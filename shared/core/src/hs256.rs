//! Compact JWS with HS256 (RFC 7515, RFC 7518 3.2), only: what the service's own identity
//! tokens are. Written here with the `hmac` and `sha2` every function links anyway, because a
//! JWT library links its RSA and elliptic-curve verifiers wherever it verifies anything (it
//! picks the algorithm at run time), and those cost every function that acts for a person about
//! 1 MiB of bootstrap that no deployed function uses (docs/build.md). Provider tokens (RS256,
//! ES256 against a JWKS) stay with the library, behind the `jwks` feature.
//!
//! Verifying takes only `alg: HS256`: `none`, any other algorithm and a `crit` header (an
//! extension we would have to understand) are refused before the signature is looked at, and
//! the signature is compared in constant time (`Mac::verify_slice`). The claims are returned
//! unchecked: the caller holds the policy (issuer, audience, expiry).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// Why a token is not a valid HS256 JWS under the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hs256Error {
    /// Not three base64url parts, or a header or payload that is no JSON object.
    Malformed,
    /// `alg` is not HS256 (`none` included), or the header carries `crit`.
    WrongAlgorithm,
    BadSignature,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn json_object(part: &str) -> Result<Map<String, Value>, Hs256Error> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Hs256Error::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(Hs256Error::Malformed),
    }
}

/// `header.payload.signature` for `claims`, header `{"alg":"HS256","typ":"JWT"}`.
pub fn sign(key: &[u8], claims: &impl serde::Serialize) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims are plain JSON"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = mac(key);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The claims of `token` if it is an HS256 JWS signed with `key`.
pub fn verify(key: &[u8], token: &str) -> Result<Map<String, Value>, Hs256Error> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Hs256Error::Malformed);
    };
    let header_fields = json_object(header)?;
    if header_fields.get("alg").and_then(Value::as_str) != Some("HS256")
        || header_fields.contains_key("crit")
    {
        return Err(Hs256Error::WrongAlgorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Hs256Error::Malformed)?;
    let mut mac = mac(key);
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| Hs256Error::BadSignature)?;
    json_object(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a key of the test, long enough for HS256 use";

    fn part(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    /// A token with the given header and payload, signed with `key` (whatever `alg` says).
    fn token_with(header: &str, payload: &str, key: &[u8]) -> String {
        let input = format!("{}.{}", part(header), part(payload));
        let mut mac = mac(key);
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn a_signed_token_verifies_and_gives_its_claims_back() {
        let token = sign(
            KEY,
            &serde_json::json!({"sub": "900127015527", "exp": 2000}),
        );
        let claims = verify(KEY, &token).unwrap();
        assert_eq!(claims["sub"], "900127015527");
        assert_eq!(claims["exp"], 2000);
    }

    /// RFC 7515 appendix A.1: the specification's own HS256 example verifies, so tokens are
    /// the standard's, not merely this module's own round trip.
    #[test]
    fn verifies_the_rfc_7515_example() {
        let key = URL_SAFE_NO_PAD
            .decode(
                "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
            )
            .unwrap();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
            .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
            .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let claims = verify(&key, token).unwrap();
        assert_eq!(claims["iss"], "joe");
        assert_eq!(claims["exp"], 1_300_819_380);
        assert_eq!(verify(b"another key", token), Err(Hs256Error::BadSignature));
    }

    #[test]
    fn refuses_what_is_not_an_hs256_token_under_the_key() {
        let claims = r#"{"sub":"900127015527"}"#;
        let good = token_with(r#"{"alg":"HS256"}"#, claims, KEY);
        let (head, rest) = good.split_once('.').unwrap();
        let (body, _) = rest.split_once('.').unwrap();
        let other_claims = part(r#"{"sub":"880101015555"}"#);
        let cases: &[(&str, String, Hs256Error)] = &[
            (
                "another key",
                token_with(r#"{"alg":"HS256"}"#, claims, b"another key"),
                Hs256Error::BadSignature,
            ),
            (
                "claims swapped under the signature",
                format!("{head}.{other_claims}.{}", good.rsplit('.').next().unwrap()),
                Hs256Error::BadSignature,
            ),
            (
                "no signature",
                format!("{head}.{body}."),
                Hs256Error::BadSignature,
            ),
            (
                "alg none, unsigned",
                format!("{}.{body}.", part(r#"{"alg":"none"}"#)),
                Hs256Error::WrongAlgorithm,
            ),
            (
                "alg none, signed anyway",
                token_with(r#"{"alg":"none"}"#, claims, KEY),
                Hs256Error::WrongAlgorithm,
            ),
            (
                "alg RS256",
                token_with(r#"{"alg":"RS256"}"#, claims, KEY),
                Hs256Error::WrongAlgorithm,
            ),
            (
                "alg hs256 in lower case",
                token_with(r#"{"alg":"hs256"}"#, claims, KEY),
                Hs256Error::WrongAlgorithm,
            ),
            (
                "no alg",
                token_with(r#"{"typ":"JWT"}"#, claims, KEY),
                Hs256Error::WrongAlgorithm,
            ),
            (
                "a crit header",
                token_with(r#"{"alg":"HS256","crit":["exp"]}"#, claims, KEY),
                Hs256Error::WrongAlgorithm,
            ),
            ("two parts", format!("{head}.{body}"), Hs256Error::Malformed),
            ("four parts", format!("{good}.x"), Hs256Error::Malformed),
            (
                "not base64url",
                format!("{head}.{body}.+/=="),
                Hs256Error::Malformed,
            ),
            (
                "a header that is no JSON object",
                token_with("[1]", claims, KEY),
                Hs256Error::Malformed,
            ),
            (
                "claims that are no JSON object",
                token_with(r#"{"alg":"HS256"}"#, "\"text\"", KEY),
                Hs256Error::Malformed,
            ),
            ("empty", String::new(), Hs256Error::Malformed),
        ];
        for (case, token, refused) in cases {
            assert_eq!(verify(KEY, token).err(), Some(*refused), "{case}");
        }
        assert!(verify(KEY, &good).is_ok());
    }
}
