//! Who may act for an ID. Variables: `IDENTITY`, `IDENTITY_ID_CLAIM`, `IDENTITY_JWKS`,
//! `IDENTITY_ISSUER`, `IDENTITY_AUDIENCE`.
use super::ConfigError;
use crate::identity_token::IdentityTokens;

/// The claim that names the person when `IDENTITY_ID_CLAIM` is not set.
pub const DEFAULT_ID_CLAIM: &str = "mysejahtera_id";

/// How a caller proves that an ID is theirs (`IDENTITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityMode {
    /// No proof: development only (the default off AWS, so `make run` and the tests work).
    None,
    /// A token of an identity provider: API Gateway's JWT authorizer verified it, or the
    /// function does against `IDENTITY_JWKS`.
    Jwt,
    /// A token the service itself issues once the phone proved it (the verification endpoints).
    Otp,
}

/// Where the provider's public keys are: read once, at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    File(std::path::PathBuf),
    /// An `http://` or `https://` URL.
    Url(String),
}

/// What `IDENTITY=jwt` checks a token against. Without `jwks`, only claims that API Gateway's
/// JWT authorizer verified are accepted (it checks issuer and audience itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    pub id_claim: String,
    pub jwks: Option<JwksSource>,
    /// Required with `jwks`.
    pub issuer: Option<String>,
    /// Required with `jwks`.
    pub audience: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub mode: IdentityMode,
    /// Read for `IDENTITY=jwt` only.
    pub jwt: JwtSettings,
    /// The service's own tokens (`IDENTITY_TOKEN_KEY`): read for `IDENTITY=otp` only.
    pub otp: Option<IdentityTokens>,
}

impl IdentityConfig {
    /// `IDENTITY=none`: what a test or tool that does not read the environment runs with.
    pub fn none() -> Self {
        Self {
            mode: IdentityMode::None,
            jwt: JwtSettings {
                id_claim: DEFAULT_ID_CLAIM.into(),
                jwks: None,
                issuer: None,
                audience: None,
            },
            otp: None,
        }
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let mode = match set("IDENTITY").as_deref() {
            None | Some("none") => IdentityMode::None,
            Some("jwt") => IdentityMode::Jwt,
            Some("otp") => IdentityMode::Otp,
            Some(other) => {
                return Err(ConfigError {
                    variable: "IDENTITY",
                    problem: format!("must be jwt, otp or none, not {other:?}"),
                });
            }
        };
        let mut config = Self {
            mode,
            ..Self::none()
        };
        if mode == IdentityMode::Otp {
            config.otp = Some(IdentityTokens::from_lookup(&lookup)?);
        }
        if mode != IdentityMode::Jwt {
            return Ok(config);
        }
        let jwt = &mut config.jwt;
        if let Some(claim) = set("IDENTITY_ID_CLAIM") {
            jwt.id_claim = claim;
        }
        jwt.jwks = set("IDENTITY_JWKS").map(|source| {
            if source.starts_with("https://") || source.starts_with("http://") {
                JwksSource::Url(source)
            } else {
                JwksSource::File(source.into())
            }
        });
        jwt.issuer = set("IDENTITY_ISSUER");
        jwt.audience = set("IDENTITY_AUDIENCE");
        if jwt.jwks.is_some() {
            for (variable, value) in [
                ("IDENTITY_ISSUER", &jwt.issuer),
                ("IDENTITY_AUDIENCE", &jwt.audience),
            ] {
                if value.is_none() {
                    return Err(ConfigError {
                        variable,
                        problem: "is required when IDENTITY_JWKS is set: tokens are checked \
                                  against it"
                            .into(),
                    });
                }
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixed_lookup as lookup;

    #[test]
    fn identity_defaults_to_none_and_jwt_reads_its_settings() {
        let default = IdentityConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(default.mode, IdentityMode::None);
        assert_eq!(default.jwt, IdentityConfig::none().jwt);
        assert!(default.otp.is_none());
        let otp = IdentityConfig::from_lookup(lookup(&[("IDENTITY", "otp")])).unwrap();
        assert_eq!(otp.mode, IdentityMode::Otp);
        assert!(otp.otp.is_some(), "otp mode reads the token key");
        let gateway = IdentityConfig::from_lookup(lookup(&[("IDENTITY", "jwt")])).unwrap();
        assert_eq!(gateway.mode, IdentityMode::Jwt);
        assert_eq!(gateway.jwt.id_claim, DEFAULT_ID_CLAIM);
        assert_eq!(gateway.jwt.jwks, None);
        let local = IdentityConfig::from_lookup(lookup(&[
            ("IDENTITY", " jwt "),
            ("IDENTITY_ID_CLAIM", "sub"),
            ("IDENTITY_JWKS", "/tmp/jwks.json"),
            ("IDENTITY_ISSUER", "https://id.example"),
            ("IDENTITY_AUDIENCE", "booking"),
        ]))
        .unwrap();
        assert_eq!(local.jwt.id_claim, "sub");
        assert_eq!(
            local.jwt.jwks,
            Some(JwksSource::File("/tmp/jwks.json".into()))
        );
        assert_eq!(local.jwt.issuer.as_deref(), Some("https://id.example"));
        let url = IdentityConfig::from_lookup(lookup(&[
            ("IDENTITY", "jwt"),
            ("IDENTITY_JWKS", "https://id.example/.well-known/jwks.json"),
            ("IDENTITY_ISSUER", "https://id.example"),
            ("IDENTITY_AUDIENCE", "booking"),
        ]))
        .unwrap();
        assert!(matches!(url.jwt.jwks, Some(JwksSource::Url(_))));
    }

    #[test]
    fn bad_identity_settings_name_the_variable() {
        type Settings = &'static [(&'static str, &'static str)];
        let failures: [(Settings, &str); 4] = [
            (&[("IDENTITY", "JWT")], "IDENTITY"),
            (&[("IDENTITY", "oidc")], "IDENTITY"),
            (
                &[("IDENTITY", "jwt"), ("IDENTITY_JWKS", "jwks.json")],
                "IDENTITY_ISSUER",
            ),
            (
                &[
                    ("IDENTITY", "jwt"),
                    ("IDENTITY_JWKS", "jwks.json"),
                    ("IDENTITY_ISSUER", "https://id.example"),
                ],
                "IDENTITY_AUDIENCE",
            ),
        ];
        for (settings, variable) in failures {
            let error = IdentityConfig::from_lookup(lookup(settings)).unwrap_err();
            assert_eq!(error.variable, variable, "{settings:?}");
        }
    }
}
