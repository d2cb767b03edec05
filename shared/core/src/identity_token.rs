//! Identity tokens: what `POST /verification/confirm` gives a person who proved their phone,
//! and what `X-Identity-Token` carries afterwards (`IDENTITY=otp`). A JWT signed HS256 with a
//! key derived from `IDENTITY_TOKEN_KEY`: `iss` and `aud` are `vaccination-booking`, `sub` the
//! normalised ID, `phone` a keyed hash of the phone (never the number: the token is shown to
//! the browser and may end up in its logs), `iat`, and `exp` `IDENTITY_TOKEN_TTL_SECONDS`
//! (900 by default) later.
//!
//! HS256 rather than a key pair: the only one who checks a token is the service that issued
//! it, so a shared secret is enough, and it is the setting the other keys already are.
//! `IDENTITY_TOKEN_KEY` also keys the verification codes' hashes and the Redis key names of
//! phones and IDs; each use derives its own key under its own label, so a hash of one kind can
//! never stand in for another.
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use serde_json::Value;
use sha2::Sha256;

use crate::config::{ConfigError, bounded_number};
use crate::domain::{MySejahteraId, PhoneNumber};
use crate::hs256::{self, Hs256Error};
use crate::identity::TokenVerifier;

pub const IDENTITY_TOKEN_KEY: &str = "IDENTITY_TOKEN_KEY";
pub const IDENTITY_TOKEN_TTL_SECONDS: &str = "IDENTITY_TOKEN_TTL_SECONDS";
/// A token lives long enough to book (or look up, cancel) in one sitting, and no longer.
pub const DEFAULT_TOKEN_TTL_SECONDS: u64 = 900;
/// `iss` and `aud` of every token: tokens of another issuer or for another audience (an
/// identity provider's, under `IDENTITY=jwt`) are not ours.
pub const TOKEN_ISSUER: &str = "vaccination-booking";
/// The claim of our tokens that names the person.
pub const OTP_ID_CLAIM: &str = "sub";
/// The label the token signing key is derived under.
const TOKEN_KEY_LABEL: &str = "identity-token/v1";
/// Shorter keys are refused: the key is what makes a token (so a booking for any ID).
pub const MIN_IDENTITY_KEY_LEN: usize = 32;
/// Used only off AWS when no key is set (`make run`, tests). Public, so tokens signed with it
/// prove nothing.
const DEVELOPMENT_IDENTITY_KEY: &str =
    "development only: identity tokens signed with this key are public";

/// The secret `IDENTITY_TOKEN_KEY`, from which each use derives its own key.
#[derive(Clone)]
pub struct IdentityKey {
    secret: SecretSlice<u8>,
    /// True when the public development key stands in for a missing setting.
    pub development: bool,
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKey")
            .field("key", &"<redacted>")
            .field("development", &self.development)
            .finish()
    }
}

impl IdentityKey {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: key.into().into(),
            development: false,
        }
    }

    /// Required in AWS Lambda (`LAMBDA_TASK_ROOT` set); locally the public development key
    /// stands in, with a WARN line.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let deployed = lookup("LAMBDA_TASK_ROOT").is_some_and(|root| !root.is_empty());
        match lookup(IDENTITY_TOKEN_KEY).filter(|key| !key.is_empty()) {
            Some(key) if key.len() >= MIN_IDENTITY_KEY_LEN => Ok(Self::new(key.into_bytes())),
            Some(_) => Err(ConfigError {
                variable: IDENTITY_TOKEN_KEY,
                problem: format!(
                    "must be at least {MIN_IDENTITY_KEY_LEN} characters (e.g. `openssl rand -hex 32`)"
                ),
            }),
            None if deployed => Err(ConfigError {
                variable: IDENTITY_TOKEN_KEY,
                problem: "is required in AWS Lambda (a key of the keys secret)".into(),
            }),
            None => {
                tracing::warn!(
                    "{IDENTITY_TOKEN_KEY} is not set: identity tokens and verification codes use \
                     the public development key; set it anywhere real people book"
                );
                Ok(Self {
                    secret: DEVELOPMENT_IDENTITY_KEY.as_bytes().to_vec().into(),
                    development: true,
                })
            }
        }
    }

    /// HMAC-SHA256 under the key, of `label`, a NUL, then each part followed by a NUL (no part
    /// holds one: IDs, phone numbers, codes and hex are ASCII), so parts cannot run together.
    pub(crate) fn mac(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret())
            .expect("HMAC takes keys of any length");
        mac.update(label.as_bytes());
        mac.update(b"\0");
        for part in parts {
            mac.update(part);
            mac.update(b"\0");
        }
        mac.finalize().into_bytes().into()
    }

    /// The first 128 bits of [`Self::mac`] in hex: what stands for a phone or an ID where it
    /// must not appear (a token's claim, a Redis key name).
    pub(crate) fn hash_hex(&self, label: &str, parts: &[&[u8]]) -> String {
        self.mac(label, parts)[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// The hash of a phone as tokens and Redis keys name it.
    pub fn phone_hash(&self, phone: &PhoneNumber) -> String {
        self.hash_hex("otp-phone/v1", &[phone.e164().as_bytes()])
    }
}

/// Why a token is refused. Every kind is the same refusal to a caller; the kind is for tests
/// and for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityTokenError {
    #[error("the identity token has expired")]
    Expired,
    #[error("the identity token's signature is not ours")]
    BadSignature,
    #[error("the identity token is for another issuer or audience")]
    NotOurs,
    /// Not a JWT, another algorithm (`none` included), a claim missing or of the wrong type,
    /// or a `sub` that is no ID.
    #[error("the identity token is malformed")]
    Malformed,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    phone: String,
    iat: u64,
    exp: u64,
}

/// Issues and verifies identity tokens.
#[derive(Clone)]
pub struct IdentityTokens {
    key: IdentityKey,
    /// The HS256 key, derived from `key` under [`TOKEN_KEY_LABEL`].
    signing: SecretSlice<u8>,
    ttl: Duration,
}

impl fmt::Debug for IdentityTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityTokens")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl IdentityTokens {
    pub fn new(key: IdentityKey, ttl: Duration) -> Self {
        Self {
            signing: key.mac(TOKEN_KEY_LABEL, &[]).to_vec().into(),
            key,
            ttl,
        }
    }

    /// `IDENTITY_TOKEN_KEY` and `IDENTITY_TOKEN_TTL_SECONDS` (60 to 86400, 900 by default).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let ttl = bounded_number(
            &lookup,
            IDENTITY_TOKEN_TTL_SECONDS,
            DEFAULT_TOKEN_TTL_SECONDS,
            60..=86_400,
        )?;
        Ok(Self::new(
            IdentityKey::from_lookup(&lookup)?,
            Duration::from_secs(ttl),
        ))
    }

    /// What the functions that act for a person check these tokens with (`IDENTITY=otp`):
    /// the same key, issuer and audience, and `exp` with [`crate::identity::TOKEN_LEEWAY_SECONDS`]
    /// of leeway, as for any token.
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::shared_key(
            self.signing.expose_secret(),
            TOKEN_ISSUER,
            TOKEN_ISSUER,
            OTP_ID_CLAIM,
        )
    }

    pub fn key(&self) -> &IdentityKey {
        &self.key
    }

    /// How long a token issued now stays valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `id`, bound to `phone` by its keyed hash, valid from `now` for the TTL.
    pub fn issue(&self, id: &MySejahteraId, phone: &PhoneNumber, now: SystemTime) -> String {
        let iat = unix_seconds(now);
        let claims = Claims {
            iss: TOKEN_ISSUER.to_owned(),
            aud: TOKEN_ISSUER.to_owned(),
            sub: id.as_str().to_owned(),
            phone: self.key.phone_hash(phone),
            iat,
            exp: iat + self.ttl.as_secs(),
        };
        hs256::sign(self.signing.expose_secret(), &claims)
    }

    /// The ID a token was issued for, if it is ours, HS256, and not expired at `now` (no
    /// leeway: the same server's clock issued it).
    pub fn verify(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<MySejahteraId, IdentityTokenError> {
        let claims =
            hs256::verify(self.signing.expose_secret(), token).map_err(|error| match error {
                Hs256Error::BadSignature => IdentityTokenError::BadSignature,
                Hs256Error::Malformed | Hs256Error::WrongAlgorithm => IdentityTokenError::Malformed,
            })?;
        // Ours before well-formed: another issuer's token is refused as such, whatever it holds.
        for claim in ["iss", "aud"] {
            match claims.get(claim) {
                Some(Value::String(value)) if value == TOKEN_ISSUER => {}
                Some(_) => return Err(IdentityTokenError::NotOurs),
                None => return Err(IdentityTokenError::Malformed),
            }
        }
        let claims: Claims = serde_json::from_value(Value::Object(claims))
            .map_err(|_| IdentityTokenError::Malformed)?;
        // Against the injected clock, with no leeway: the same server's clock issued it.
        if claims.exp <= unix_seconds(now) {
            return Err(IdentityTokenError::Expired);
        }
        MySejahteraId::parse(&claims.sub).map_err(|_| IdentityTokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::config::fixed_lookup;

    const ID: &str = "900127015527";

    fn tokens(key: &str) -> IdentityTokens {
        IdentityTokens::new(IdentityKey::new(key), Duration::from_secs(900))
    }

    fn id(raw: &str) -> MySejahteraId {
        MySejahteraId::parse(raw).unwrap()
    }

    fn phone() -> PhoneNumber {
        PhoneNumber::parse("0123456789").unwrap()
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    /// A token with these claims and header, signed HS256 under the tokens' own key (so only
    /// what the test changes is wrong).
    fn forged(tokens: &IdentityTokens, header: &str, claims: serde_json::Value) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = tokens.key.mac("identity-token/v1", &[]);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    fn claims(iss: &str, aud: &str, sub: &str, exp: u64) -> serde_json::Value {
        serde_json::json!({"iss": iss, "aud": aud, "sub": sub, "phone": "00", "iat": 1000, "exp": exp})
    }

    #[test]
    fn a_token_names_its_id_until_it_expires() {
        let tokens = tokens(&"k".repeat(32));
        let token = tokens.issue(&id("900127-01-5527"), &phone(), at(1000));
        assert_eq!(tokens.verify(&token, at(1000)), Ok(id(ID)));
        assert_eq!(tokens.verify(&token, at(1899)), Ok(id(ID)));
        assert_eq!(
            tokens.verify(&token, at(1900)),
            Err(IdentityTokenError::Expired)
        );
        assert_ne!(
            tokens.verify(&token, at(1000)),
            Ok(id("900127015528")),
            "another person's ID is not this token's"
        );
    }

    #[test]
    fn the_token_carries_a_keyed_hash_of_the_phone_not_the_number() {
        let tokens = tokens(&"k".repeat(32));
        let token = tokens.issue(&id(ID), &phone(), at(1000));
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["iss"], TOKEN_ISSUER);
        assert_eq!(claims["aud"], TOKEN_ISSUER);
        assert_eq!(claims["sub"], ID);
        assert_eq!(claims["exp"], 1900);
        let hash = claims["phone"].as_str().unwrap();
        assert_eq!(hash.len(), 32);
        assert!(!token.contains("123456789") && !hash.contains("123456789"));
        let other_key = IdentityKey::new("o".repeat(32));
        assert_ne!(hash, other_key.phone_hash(&phone()), "keyed");
        assert_eq!(
            hash,
            tokens
                .key()
                .phone_hash(&PhoneNumber::parse("+60123456789").unwrap()),
            "one phone in both of its forms"
        );
    }

    #[test]
    fn tokens_not_ours_are_refused() {
        let tokens = tokens(&"k".repeat(32));
        let now = at(1000);
        let hs256 = r#"{"alg":"HS256","typ":"JWT"}"#;
        let ours = forged(&tokens, hs256, claims(TOKEN_ISSUER, TOKEN_ISSUER, ID, 2000));
        assert_eq!(tokens.verify(&ours, now), Ok(id(ID)), "the forger is right");
        let other_key = self::tokens(&"o".repeat(32)).issue(&id(ID), &phone(), now);
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims(TOKEN_ISSUER, TOKEN_ISSUER, ID, 2000).to_string())
        );
        let mut tampered: Vec<&str> = ours.split('.').collect();
        let other_claims = URL_SAFE_NO_PAD
            .encode(claims(TOKEN_ISSUER, TOKEN_ISSUER, "900127015528", 2000).to_string());
        tampered[1] = &other_claims;
        let tampered = tampered.join(".");
        let cases = [
            (other_key, IdentityTokenError::BadSignature),
            (tampered, IdentityTokenError::BadSignature),
            (unsigned, IdentityTokenError::Malformed),
            (
                forged(
                    &tokens,
                    r#"{"alg":"HS512"}"#,
                    claims(TOKEN_ISSUER, TOKEN_ISSUER, ID, 2000),
                ),
                IdentityTokenError::Malformed,
            ),
            (
                forged(
                    &tokens,
                    hs256,
                    claims("someone-else", TOKEN_ISSUER, ID, 2000),
                ),
                IdentityTokenError::NotOurs,
            ),
            (
                forged(
                    &tokens,
                    hs256,
                    claims(TOKEN_ISSUER, "someone-else", ID, 2000),
                ),
                IdentityTokenError::NotOurs,
            ),
            (
                forged(&tokens, hs256, claims(TOKEN_ISSUER, TOKEN_ISSUER, ID, 1000)),
                IdentityTokenError::Expired,
            ),
            (
                forged(
                    &tokens,
                    hs256,
                    claims(TOKEN_ISSUER, TOKEN_ISSUER, "nobody", 2000),
                ),
                IdentityTokenError::Malformed,
            ),
            (
                forged(
                    &tokens,
                    hs256,
                    serde_json::json!({"iss": TOKEN_ISSUER, "aud": TOKEN_ISSUER, "sub": ID, "phone": "00", "iat": 1000}),
                ),
                IdentityTokenError::Malformed,
            ),
            ("not a token".to_owned(), IdentityTokenError::Malformed),
            (String::new(), IdentityTokenError::Malformed),
        ];
        for (token, expected) in cases {
            assert_eq!(tokens.verify(&token, now), Err(expected), "{token}");
        }
    }

    #[test]
    fn the_key_is_required_in_lambda_only_and_the_ttl_is_bounded() {
        let key = "k".repeat(MIN_IDENTITY_KEY_LEN);
        let local = IdentityTokens::from_lookup(fixed_lookup(&[])).unwrap();
        assert!(local.key().development);
        assert_eq!(local.ttl(), Duration::from_secs(DEFAULT_TOKEN_TTL_SECONDS));
        let set = IdentityTokens::from_lookup(fixed_lookup(&[
            (IDENTITY_TOKEN_KEY, &key),
            (IDENTITY_TOKEN_TTL_SECONDS, "300"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
        ]))
        .unwrap();
        assert!(!set.key().development);
        assert_eq!(set.ttl(), Duration::from_secs(300));
        assert!(!format!("{set:?}").contains(&key), "Debug redacts the key");
        let failures: [(&[(&str, &str)], &str); 4] = [
            (&[("LAMBDA_TASK_ROOT", "/var/task")], IDENTITY_TOKEN_KEY),
            (&[(IDENTITY_TOKEN_KEY, "short")], IDENTITY_TOKEN_KEY),
            (
                &[(IDENTITY_TOKEN_TTL_SECONDS, "0")],
                IDENTITY_TOKEN_TTL_SECONDS,
            ),
            (
                &[(IDENTITY_TOKEN_TTL_SECONDS, "soon")],
                IDENTITY_TOKEN_TTL_SECONDS,
            ),
        ];
        for (settings, variable) in failures {
            let error = IdentityTokens::from_lookup(fixed_lookup(settings)).unwrap_err();
            assert_eq!(error.variable, variable, "{settings:?}");
        }
    }
}
