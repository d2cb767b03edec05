//! An identity provider's tokens (RS256, ES256) checked against its JWKS, for `IDENTITY=jwt`
//! where no gateway verifies them (`local-api`). Only in builds with the `jwks` feature: deployed, API Gateway's JWT authorizer does this, and the JWT library's
//! RSA and elliptic-curve code would cost each function about 1 MiB (docs/build.md).
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::ConfigError;
use crate::identity::{IdentityRefused, TOKEN_LEEWAY_SECONDS, audiences};

/// One accepted key: the algorithm it verifies, and the `kid` it answers to.
struct TrustedKey {
    kid: Option<String>,
    key: DecodingKey,
    validation: Validation,
}

/// The signing keys of one JWKS document.
pub(crate) struct JwksKeys(Vec<TrustedKey>);

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = TOKEN_LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&audiences(audience));
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation
}

impl JwksKeys {
    /// Its RSA keys verify RS256, its P-256 keys ES256; encryption keys, other curves and
    /// symmetric keys are left out.
    pub(crate) fn parse(jwks: &str, issuer: &str, audience: &str) -> Result<Self, ConfigError> {
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
        Ok(Self(keys))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The token's claims, if a key of the set signed it and its registered claims pass.
    pub(crate) fn verify(&self, token: &str) -> Result<Map<String, Value>, IdentityRefused> {
        use jsonwebtoken::errors::ErrorKind;
        // `alg` none, or one no key here takes, fails here: no key accepts it.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| IdentityRefused::Invalid("malformed"))?;
        let by_kid = header
            .kid
            .as_deref()
            .and_then(|kid| self.0.iter().find(|key| key.kid.as_deref() == Some(kid)));
        // A token or a key without a kid can only mean a lone key.
        let key = by_kid
            .or_else(|| match self.0.as_slice() {
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
        Ok(data.claims)
    }
}
