//! Who may act for an ID: a booking, a place in the queue, reading, moving or cancelling a
//! booking are acts *for* a person, so with an identity mode on the caller proves the ID is
//! theirs. Pure: the provider's keys (JWKS) are read by the wiring and handed in as text.
//!
//! The proof is a JWT whose configured claim (`IDENTITY_ID_CLAIM`) names the ID, either
//! verified here ([`TokenVerifier`]: a JWKS of RS256/ES256 keys by `kid`, or one HS256 key for
//! the service's own tokens) or by API Gateway's JWT authorizer, whose claims reach the function
//! in the request context ([`Presented::verified_claims`]) and are taken as they are: only the
//! gateway can put them there.
use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::{ConfigError, IdentityConfig, IdentityMode};
use crate::domain::MySejahteraId;
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

/// One accepted key: the algorithm it verifies, and the `kid` it answers to.
struct TrustedKey {
    kid: Option<String>,
    key: DecodingKey,
    validation: Validation,
}

/// Verifies identity tokens and reads the ID they carry. Built once at cold start.
pub struct TokenVerifier {
    keys: Vec<TrustedKey>,
    id_claim: String,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("keys", &self.keys.len())
            .field("id_claim", &self.id_claim)
            .finish()
    }
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = TOKEN_LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    // `IDENTITY_AUDIENCE` may list several, comma-separated (the template passes a list).
    let audiences: Vec<&str> = audience
        .split(',')
        .map(str::trim)
        .filter(|audience| !audience.is_empty())
        .collect();
    validation.set_audience(&audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation
}

impl TokenVerifier {
    /// The provider's public keys (a JWKS document): its RSA keys verify RS256, its P-256 keys
    /// ES256, each only for tokens with its `kid`; anything else in the set (encryption keys,
    /// other curves, symmetric keys) is left out. Tokens must name `issuer` and `audience`.
    pub fn from_jwks(
        jwks: &str,
        issuer: &str,
        audience: &str,
        id_claim: &str,
    ) -> Result<Self, ConfigError> {
        let problem = |problem: String| ConfigError {
            variable: "IDENTITY_JWKS",
            problem,
        };
        let set: JwkSet = serde_json::from_str(jwks)
            .map_err(|error| problem(format!("is not a JWKS document ({error})")))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
                continue;
            }
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => continue,
            };
            // A key that says its algorithm is held to it.
            if jwk.common.key_algorithm.is_some_and(|said| {
                said != match algorithm {
                    Algorithm::ES256 => KeyAlgorithm::ES256,
                    _ => KeyAlgorithm::RS256,
                }
            }) {
                continue;
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|error| {
                problem(format!(
                    "holds a key that cannot be read (kid {:?}: {error})",
                    jwk.common.key_id
                ))
            })?;
            keys.push(TrustedKey {
                kid: jwk.common.key_id.clone(),
                key,
                validation: validation(algorithm, issuer, audience),
            });
        }
        if keys.is_empty() {
            return Err(problem(
                "holds no RS256 (RSA) or ES256 (P-256) signing key".into(),
            ));
        }
        Ok(Self {
            keys,
            id_claim: id_claim.to_owned(),
        })
    }

    /// Tokens the service signs itself (HS256 with `key`), such as those the phone
    /// verification issues: `iss` and `aud` as given, the ID in `id_claim`.
    pub fn shared_key(key: &[u8], issuer: &str, audience: &str, id_claim: &str) -> Self {
        Self {
            keys: vec![TrustedKey {
                kid: None,
                key: DecodingKey::from_secret(key),
                validation: validation(Algorithm::HS256, issuer, audience),
            }],
            id_claim: id_claim.to_owned(),
        }
    }

    /// The ID the token proves, normalised as a request's ID is (`900127-01-5527` is
    /// `900127015527`).
    pub fn verify(&self, token: &str) -> Result<MySejahteraId, IdentityRefused> {
        use jsonwebtoken::errors::ErrorKind;
        let token = token.trim();
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token)
            .trim();
        if token.len() > MAX_TOKEN_LEN {
            return Err(IdentityRefused::Invalid("too long"));
        }
        // `alg` none, or one no key here takes, fails here: no key accepts it.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| IdentityRefused::Invalid("malformed"))?;
        let by_kid = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.iter().find(|key| key.kid.as_deref() == Some(kid)));
        // A token or a key without a kid can only mean a lone key.
        let key = by_kid
            .or_else(|| match self.keys.as_slice() {
                [only] if only.kid.is_none() || header.kid.is_none() => Some(only),
                _ => None,
            })
            .ok_or(IdentityRefused::Invalid("unknown key"))?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &key.validation)
            .map_err(|error| {
                IdentityRefused::Invalid(match error.kind() {
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::ImmatureSignature => "not yet valid",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidAudience => "wrong audience",
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::InvalidAlgorithm => "wrong algorithm",
                    ErrorKind::MissingRequiredClaim(_) => "missing exp, iss or aud",
                    _ => "invalid",
                })
            })?;
        id_from_claim(
            &self.id_claim,
            data.claims.get(&self.id_claim).and_then(Value::as_str),
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
