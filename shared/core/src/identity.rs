//! Who may act for an ID: a booking, a place in the queue, reading, moving or cancelling a
//! booking are acts *for* a person, so with an identity mode on the caller proves the ID is
//! theirs. Pure: the provider's keys (JWKS) are read by the wiring and handed in as text.
//!
//! The proof is a JWT whose configured claim (`IDENTITY_ID_CLAIM`) names the ID, either
//! verified here ([`TokenVerifier`]: one HS256 key for the service's own tokens, or, in builds
//! with the `jwks` feature, a JWKS of RS256/ES256 keys by `kid`) or by API Gateway's JWT
//! authorizer, whose claims reach the function in the request context
//! ([`Presented::verified_claims`]) and are taken as they are: only the gateway can put them
//! there.
use std::collections::HashMap;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretSlice};
use serde_json::{Map, Value};

use crate::config::{ConfigError, IdentityConfig, IdentityMode};
use crate::domain::MySejahteraId;
use crate::hs256::{self, Hs256Error};
use crate::identity_token::{IDENTITY_TOKEN_KEY, OTP_ID_CLAIM};

/// Clock skew allowed on `exp` and `nbf` between the provider and this function.
pub const TOKEN_LEEWAY_SECONDS: u64 = 30;
/// Tokens are a few hundred bytes to a few KB; anything much longer is not parsed.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What a request shows for its caller.
#[derive(Debug, Default, Clone, Copy)]
pub struct Presented<'a> {
    /// Claims API Gateway's JWT authorizer verified (the request context), when it ran.
    pub verified_claims: Option<VerifiedClaims<'a>>,
    /// The `X-Identity-Token` header, when sent (an optional `Bearer ` prefix is ignored).
    pub token: Option<&'a str>,
}

/// The claims as the gateway hands them over: payload 2.0 flattens every claim to a string,
/// REST (payload 1.0) keeps the JSON values.
#[derive(Debug, Clone, Copy)]
pub enum VerifiedClaims<'a> {
    Strings(&'a HashMap<String, String>),
    Json(&'a Map<String, Value>),
}

impl VerifiedClaims<'_> {
    fn get(&self, claim: &str) -> Option<&str> {
        match self {
            Self::Strings(claims) => claims.get(claim).map(String::as_str),
            Self::Json(claims) => claims.get(claim).and_then(Value::as_str),
        }
    }
}

/// Why a caller may not act for the ID asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRefused {
    /// No token (and no verified claims): 401.
    #[error("no identity token")]
    Missing,
    /// A token that does not verify (signature, algorithm, issuer, audience, expiry, form): 401.
    #[error("identity token refused: {0}")]
    Invalid(&'static str),
    /// A valid token that names nobody: it lacks the ID claim, or the claim is not an ID. 401.
    #[error("identity token has no valid {claim} claim")]
    NoIdClaim { claim: String },
    /// A valid token of another person: 403.
    #[error("identity token is another person's")]
    Mismatch,
    /// `IDENTITY=jwt` with neither the gateway's authorizer nor a JWKS: nothing can verify. 401.
    #[error("no verifier: IDENTITY=jwt without the gateway's authorizer needs IDENTITY_JWKS")]
    Unverifiable,
}

/// Verifies identity tokens and reads the ID they carry. Built once at cold start.
pub struct TokenVerifier {
    keys: Keys,
    id_claim: String,
}

enum Keys {
    /// The service's own tokens: HS256 under one key ([`crate::hs256`]).
    Shared {
        key: SecretSlice<u8>,
        issuer: String,
        audiences: Vec<String>,
    },
    /// An identity provider's public keys, verified without a gateway (`local-api`); only in
    /// builds with the `jwks` feature.
    #[cfg(feature = "jwks")]
    Jwks(crate::jwks::JwksKeys),
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match &self.keys {
            Keys::Shared { .. } => 1,
            #[cfg(feature = "jwks")]
            Keys::Jwks(keys) => keys.len(),
        };
        f.debug_struct("TokenVerifier")
            .field("keys", &keys)
            .field("id_claim", &self.id_claim)
            .finish()
    }
}

/// `IDENTITY_AUDIENCE` may list several, comma-separated (the template passes a list).
pub(crate) fn audiences(audience: &str) -> Vec<String> {
    audience
        .split(',')
        .map(str::trim)
        .filter(|audience| !audience.is_empty())
        .map(str::to_owned)
        .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// A numeric date claim (RFC 7519 allows fractions; whole seconds are enough here).
fn seconds(claims: &Map<String, Value>, claim: &str) -> Option<u64> {
    let value = claims.get(claim)?;
    value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

/// The registered claims every accepted token must pass, as a JWT library checks them: `exp`,
/// `iss` and `aud` present, not expired and `nbf` reached (each with
/// [`TOKEN_LEEWAY_SECONDS`]), our issuer, one of our audiences.
fn check_registered_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audiences: &[String],
    now: u64,
) -> Result<(), IdentityRefused> {
    let (Some(exp), Some(iss), Some(aud)) =
        (seconds(claims, "exp"), claims.get("iss"), claims.get("aud"))
    else {
        return Err(IdentityRefused::Invalid("missing exp, iss or aud"));
    };
    if exp.saturating_add(TOKEN_LEEWAY_SECONDS) < now {
        return Err(IdentityRefused::Invalid("expired"));
    }
    if seconds(claims, "nbf").is_some_and(|nbf| nbf > now.saturating_add(TOKEN_LEEWAY_SECONDS)) {
        return Err(IdentityRefused::Invalid("not yet valid"));
    }
    if iss.as_str() != Some(issuer) {
        return Err(IdentityRefused::Invalid("wrong issuer"));
    }
    let ours = |value: &Value| {
        value
            .as_str()
            .is_some_and(|aud| audiences.iter().any(|ours| ours == aud))
    };
    let audience_ok = match aud {
        Value::Array(list) => list.iter().any(ours),
        single => ours(single),
    };
    if !audience_ok {
        return Err(IdentityRefused::Invalid("wrong audience"));
    }
    Ok(())
}

impl TokenVerifier {
    /// The provider's public keys (a JWKS document): its RSA keys verify RS256, its P-256 keys
    /// ES256, each only for tokens with its `kid`; anything else in the set (encryption keys,
    /// other curves, symmetric keys) is left out. Tokens must name `issuer` and `audience`.
    /// Without the `jwks` feature this build cannot, and says so naming `IDENTITY_JWKS`.
    pub fn from_jwks(
        jwks: &str,
        issuer: &str,
        audience: &str,
        id_claim: &str,
    ) -> Result<Self, ConfigError> {
        #[cfg(feature = "jwks")]
        {
            Ok(Self {
                keys: Keys::Jwks(crate::jwks::JwksKeys::parse(jwks, issuer, audience)?),
                id_claim: id_claim.to_owned(),
            })
        }
        #[cfg(not(feature = "jwks"))]
        {
            let _ = (jwks, issuer, audience, id_claim);
            Err(Self::no_jwks_in_this_build())
        }
    }

    /// Whether this build can check tokens against a JWKS (booking-core's `jwks` feature).
    pub const VERIFIES_JWKS: bool = cfg!(feature = "jwks");

    /// The start-up error of `IDENTITY_JWKS` in a build without the `jwks` feature.
    pub fn no_jwks_in_this_build() -> ConfigError {
        ConfigError {
            variable: "IDENTITY_JWKS",
            problem: "cannot be used by this build, which verifies no provider keys (the `jwks` \
                      feature, which local-api has: try a provider's tokens there); \
                      deployed, the HTTP API's JWT authorizer verifies the token instead"
                .into(),
        }
    }

    /// Tokens the service signs itself (HS256 with `key`), such as those the phone
    /// verification issues: `iss` and `aud` as given, the ID in `id_claim`.
    pub fn shared_key(key: &[u8], issuer: &str, audience: &str, id_claim: &str) -> Self {
        Self {
            keys: Keys::Shared {
                key: key.to_vec().into(),
                issuer: issuer.to_owned(),
                audiences: audiences(audience),
            },
            id_claim: id_claim.to_owned(),
        }
    }

    /// The ID the token proves, normalised as a request's ID is (`900127-01-5527` is
    /// `900127015527`).
    pub fn verify(&self, token: &str) -> Result<MySejahteraId, IdentityRefused> {
        let token = token.trim();
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token)
            .trim();
        if token.len() > MAX_TOKEN_LEN {
            return Err(IdentityRefused::Invalid("too long"));
        }
        let claims = match &self.keys {
            Keys::Shared {
                key,
                issuer,
                audiences,
            } => {
                let claims = hs256::verify(key.expose_secret(), token).map_err(|error| {
                    IdentityRefused::Invalid(match error {
                        Hs256Error::Malformed => "malformed",
                        Hs256Error::WrongAlgorithm => "wrong algorithm",
                        Hs256Error::BadSignature => "bad signature",
                    })
                })?;
                check_registered_claims(&claims, issuer, audiences, unix_now())?;
                claims
            }
            #[cfg(feature = "jwks")]
            Keys::Jwks(keys) => keys.verify(token)?,
        };
        id_from_claim(
            &self.id_claim,
            claims.get(&self.id_claim).and_then(Value::as_str),
        )
    }
}

fn id_from_claim(claim: &str, value: Option<&str>) -> Result<MySejahteraId, IdentityRefused> {
    value
        .and_then(|value| MySejahteraId::parse(value).ok())
        .ok_or_else(|| IdentityRefused::NoIdClaim {
            claim: claim.to_owned(),
        })
}

/// The check every endpoint that acts for a person runs, once the request is valid and before
/// anything reads the person's booking state. Cheap to clone (one per function).
#[derive(Clone, Debug, Default)]
pub struct IdentityCheck {
    proof: Option<Arc<Proof>>,
}

#[derive(Debug)]
struct Proof {
    id_claim: String,
    /// None: only the gateway's verified claims are accepted.
    verifier: Option<TokenVerifier>,
}

impl IdentityCheck {
    /// `IDENTITY=none`: anybody may act for any ID.
    pub fn none() -> Self {
        Self::default()
    }

    /// A proof is required: the gateway's verified claims, else a token `verifier` accepts
    /// (None: the gateway's claims only). `id_claim` names the ID in the gateway's claims.
    pub fn required(id_claim: &str, verifier: Option<TokenVerifier>) -> Self {
        Self {
            proof: Some(Arc::new(Proof {
                id_claim: id_claim.to_owned(),
                verifier,
            })),
        }
    }

    /// `IDENTITY` as configured, `jwks` the text of `IDENTITY_JWKS` when it is set (the wiring
    /// reads it). `IDENTITY=otp` takes the tokens `POST /verification/confirm` issues.
    pub fn configured(config: &IdentityConfig, jwks: Option<&str>) -> Result<Self, ConfigError> {
        match config.mode {
            IdentityMode::None => Ok(Self::none()),
            IdentityMode::Otp => {
                let tokens = config.otp.as_ref().ok_or_else(|| ConfigError {
                    variable: IDENTITY_TOKEN_KEY,
                    problem: "is needed by IDENTITY=otp".into(),
                })?;
                Ok(Self::required(OTP_ID_CLAIM, Some(tokens.verifier())))
            }
            IdentityMode::Jwt => {
                let jwt = &config.jwt;
                let verifier =
                    match (jwks, &jwt.issuer, &jwt.audience) {
                        (None, _, _) => None,
                        (Some(jwks), Some(issuer), Some(audience)) => Some(
                            TokenVerifier::from_jwks(jwks, issuer, audience, &jwt.id_claim)?,
                        ),
                        (Some(_), _, _) => {
                            return Err(ConfigError {
                                variable: "IDENTITY_ISSUER",
                                problem: "and IDENTITY_AUDIENCE are required with IDENTITY_JWKS"
                                    .into(),
                            });
                        }
                    };
                Ok(Self::required(&jwt.id_claim, verifier))
            }
        }
    }

    /// Whether a proof is required at all (false with `IDENTITY=none`).
    pub fn is_required(&self) -> bool {
        self.proof.is_some()
    }

    /// Ok when the caller proved `id` is theirs (always with `IDENTITY=none`).
    pub fn authorize(
        &self,
        presented: Presented<'_>,
        id: &MySejahteraId,
    ) -> Result<(), IdentityRefused> {
        let Some(proof) = &self.proof else {
            return Ok(());
        };
        let proven = match (presented.verified_claims, presented.token, &proof.verifier) {
            (Some(claims), _, _) => id_from_claim(&proof.id_claim, claims.get(&proof.id_claim))?,
            (None, None, _) => return Err(IdentityRefused::Missing),
            (None, Some(token), Some(verifier)) => verifier.verify(token)?,
            (None, Some(_), None) => return Err(IdentityRefused::Unverifiable),
        };
        if proven == *id {
            Ok(())
        } else {
            Err(IdentityRefused::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    const KEY: &[u8] = b"the service's own token key, 32+ bytes";
    const ID: &str = "900127015527";

    fn verifier() -> TokenVerifier {
        TokenVerifier::shared_key(KEY, "issuer", "aud-a, aud-b", "sub")
    }

    fn claims() -> Value {
        json!({"iss": "issuer", "aud": "aud-b", "sub": "900127-01-5527", "exp": unix_now() + 600})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut claims = claims();
        claims[key] = value;
        claims
    }

    fn without(key: &str) -> Value {
        let mut claims = claims();
        claims.as_object_mut().unwrap().remove(key);
        claims
    }

    #[test]
    fn the_shared_key_takes_only_a_valid_token_of_its_issuer_and_audiences() {
        let verifier = verifier();
        let now = unix_now();
        let accepted = [
            ("valid, hyphenated ID", claims()),
            ("audience in a list", with("aud", json!(["other", "aud-a"]))),
            ("expired within the leeway", with("exp", json!(now - 10))),
            ("nbf within the leeway", with("nbf", json!(now + 10))),
        ];
        for (what, claims) in accepted {
            let token = hs256::sign(KEY, &claims);
            assert_eq!(
                verifier.verify(&token).map(|id| id.as_str().to_owned()),
                Ok(ID.into()),
                "{what}"
            );
        }
        assert!(
            verifier
                .verify(&format!("Bearer {}", hs256::sign(KEY, &claims())))
                .is_ok()
        );

        let valid = hs256::sign(KEY, &claims());
        let (head, _) = valid.rsplit_once('.').unwrap();
        let body = URL_SAFE_NO_PAD.encode(claims().to_string());
        let refused = [
            ("expired", hs256::sign(KEY, &with("exp", json!(now - 3600)))),
            (
                "not yet valid",
                hs256::sign(KEY, &with("nbf", json!(now + 3600))),
            ),
            (
                "wrong issuer",
                hs256::sign(KEY, &with("iss", json!("evil"))),
            ),
            (
                "issuer not a string",
                hs256::sign(KEY, &with("iss", json!(1))),
            ),
            (
                "wrong audience",
                hs256::sign(KEY, &with("aud", json!("aud-c"))),
            ),
            (
                "audience list without ours",
                hs256::sign(KEY, &with("aud", json!(["x", 1]))),
            ),
            ("no expiry", hs256::sign(KEY, &without("exp"))),
            (
                "expiry not a number",
                hs256::sign(KEY, &with("exp", json!("soon"))),
            ),
            ("no audience", hs256::sign(KEY, &without("aud"))),
            ("no issuer", hs256::sign(KEY, &without("iss"))),
            ("no ID claim", hs256::sign(KEY, &without("sub"))),
            (
                "ID claim not an ID",
                hs256::sign(KEY, &with("sub", json!("nobody"))),
            ),
            (
                "ID claim a number",
                hs256::sign(KEY, &with("sub", json!(900127015527_u64))),
            ),
            ("another key", hs256::sign(b"another key", &claims())),
            ("signature cut off", format!("{head}.")),
            (
                "alg none",
                format!("{}.{body}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#)),
            ),
            ("too long", format!("{valid}{}", "A".repeat(MAX_TOKEN_LEN))),
            ("not a JWT", "not-a-token".into()),
            ("empty", String::new()),
        ];
        for (what, token) in refused {
            match verifier.verify(&token) {
                Err(IdentityRefused::Invalid(_) | IdentityRefused::NoIdClaim { .. }) => {}
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[cfg(not(feature = "jwks"))]
    #[test]
    fn a_build_without_jwks_refuses_a_jwks_at_start_naming_it() {
        let error = TokenVerifier::from_jwks(r#"{"keys":[]}"#, "issuer", "aud", "sub").unwrap_err();
        assert_eq!(error.variable, "IDENTITY_JWKS");
        assert!(
            error.problem.contains("`jwks` feature"),
            "{}",
            error.problem
        );
    }
}
