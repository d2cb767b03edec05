//! Who may act for an ID, as every function that acts for a person builds it: `IDENTITY*`
//! read, the provider's JWKS read once (a file, or a URL fetched at cold start), the check
//! built. One place, so the functions, local-api and the tests check identity alike.
use booking_core::config::{ConfigError, IdentityConfig, JwksSource};
use booking_core::identity::{IdentityCheck, TokenVerifier};

/// The check `config` asks for. Fails at start-up naming the variable: a JWKS that cannot be
/// read or holds no usable key, `IDENTITY=otp` with an `IDENTITY_TOKEN_KEY` that is too short
/// (or, in AWS Lambda, missing).
pub async fn identity_check(config: &IdentityConfig) -> Result<IdentityCheck, ConfigError> {
    let unreadable = |problem: String| ConfigError {
        variable: "IDENTITY_JWKS",
        problem,
    };
    if config.jwt.jwks.is_some() && !TokenVerifier::VERIFIES_JWKS {
        // Before fetching anything: this build could not use what it fetched.
        return Err(TokenVerifier::no_jwks_in_this_build());
    }
    let jwks = match &config.jwt.jwks {
        None => None,
        Some(JwksSource::File(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|error| unreadable(format!("cannot read {}: {error}", path.display())))?,
        ),
        Some(JwksSource::Url(url)) => Some(
            booking_secrets::fetch_document(url)
                .await
                .map_err(|error| unreadable(format!("cannot be fetched: {error}")))?,
        ),
    };
    IdentityCheck::configured(config, jwks.as_deref())
}

/// A failed start: a setting (named), or the store's client.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] booking_core::ports::StoreError),
}
