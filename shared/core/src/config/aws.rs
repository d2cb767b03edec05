//! What Lambda gives every function to call AWS with: its region and the role's credentials.
//! Variables: `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`; and `AWS_ENDPOINT_URL_<SERVICE>` or
//! `AWS_ENDPOINT_URL` to point a service elsewhere (a local stand-in), as the AWS SDKs allow.
use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;

#[derive(Debug, Clone)]
pub struct AwsEnvironment {
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
}

impl PartialEq for AwsEnvironment {
    fn eq(&self, other: &Self) -> bool {
        let token = |t: &Option<SecretString>| t.as_ref().map(|t| t.expose_secret().to_owned());
        self.region == other.region
            && self.access_key_id == other.access_key_id
            && self.secret_access_key.expose_secret() == other.secret_access_key.expose_secret()
            && token(&self.session_token) == token(&other.session_token)
    }
}

impl Eq for AwsEnvironment {}

impl AwsEnvironment {
    /// `needed_for` names the setting that needs AWS (`SETTINGS_SECRET_ARN`, ...), so the
    /// message says why a missing variable matters.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        needed_for: &str,
    ) -> Result<Self, ConfigError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let missing = |variable: &'static str| ConfigError {
            variable,
            problem: format!("is required for {needed_for} (Lambda sets it)"),
        };
        Ok(Self {
            region: set("AWS_REGION")
                .or_else(|| set("AWS_DEFAULT_REGION"))
                .ok_or_else(|| missing("AWS_REGION"))?,
            access_key_id: set("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?,
            secret_access_key: set("AWS_SECRET_ACCESS_KEY")
                .ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?
                .into(),
            session_token: set("AWS_SESSION_TOKEN").map(Into::into),
        })
    }

    /// Where to reach `service`: `AWS_ENDPOINT_URL_<SERVICE>` (`SECRETS_MANAGER`, `KAFKA`, `SNS`),
    /// else `AWS_ENDPOINT_URL`, else `https://<host_prefix>.<region>.amazonaws.com`. Plain
    /// `http://` only to a loopback address (a local stand-in): answers may be secrets.
    pub fn endpoint(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
        service: &str,
        host_prefix: &str,
    ) -> Result<String, ConfigError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let specific: &'static str = match service {
            "SECRETS_MANAGER" => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "KAFKA" => "AWS_ENDPOINT_URL_KAFKA",
            "SNS" => "AWS_ENDPOINT_URL_SNS",
            _ => "AWS_ENDPOINT_URL",
        };
        let (variable, url) = match (set(specific), set("AWS_ENDPOINT_URL")) {
            (Some(url), _) => (specific, url),
            (None, Some(url)) => ("AWS_ENDPOINT_URL", url),
            (None, None) => {
                return Ok(format!(
                    "https://{host_prefix}.{}.amazonaws.com",
                    self.region
                ));
            }
        };
        let url = url.trim().trim_end_matches('/').to_owned();
        let loopback = url.strip_prefix("http://").is_some_and(|rest| {
            let authority = rest.split('/').next().unwrap_or("");
            authority == "[::1]"
                || authority.starts_with("[::1]:")
                || matches!(authority.split(':').next(), Some("127.0.0.1" | "localhost"))
        });
        if !(url.starts_with("https://") || loopback) {
            return Err(ConfigError {
                variable,
                problem: "must be https:// (http:// only to a loopback address)".into(),
            });
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixed_lookup;

    const CREDENTIALS: [(&str, &str); 3] = [
        ("AWS_REGION", "ap-southeast-5"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ];

    #[test]
    fn lambdas_variables_are_required_and_named() {
        let aws = AwsEnvironment::from_lookup(fixed_lookup(&CREDENTIALS), "X").unwrap();
        assert_eq!(aws.region, "ap-southeast-5");
        assert!(aws.session_token.is_none());
        for missing in CREDENTIALS.map(|(name, _)| name) {
            let rest: Vec<_> = CREDENTIALS
                .into_iter()
                .filter(|(n, _)| *n != missing)
                .collect();
            let error =
                AwsEnvironment::from_lookup(fixed_lookup(&rest), "MSK_CLUSTER_ARN").unwrap_err();
            assert_eq!(error.variable, missing);
            assert!(
                error.problem.contains("MSK_CLUSTER_ARN"),
                "{}",
                error.problem
            );
        }
    }

    #[test]
    fn endpoints_default_to_the_region_and_refuse_plain_http_off_loopback() {
        let aws = AwsEnvironment::from_lookup(fixed_lookup(&CREDENTIALS), "X").unwrap();
        let endpoint = |pairs: &[(&str, &str)]| aws.endpoint(fixed_lookup(pairs), "KAFKA", "kafka");
        assert_eq!(
            endpoint(&[]).unwrap(),
            "https://kafka.ap-southeast-5.amazonaws.com"
        );
        assert_eq!(
            endpoint(&[("AWS_ENDPOINT_URL_KAFKA", "http://127.0.0.1:4566/")]).unwrap(),
            "http://127.0.0.1:4566"
        );
        assert_eq!(
            endpoint(&[("AWS_ENDPOINT_URL", "https://vpce.example")]).unwrap(),
            "https://vpce.example"
        );
        let refused = endpoint(&[("AWS_ENDPOINT_URL_KAFKA", "http://kafka.example")]).unwrap_err();
        assert_eq!(refused.variable, "AWS_ENDPOINT_URL_KAFKA");
        for elsewhere in ["http://127.0.0.1.example", "http://[2001:db8::1]:80"] {
            let refused = endpoint(&[("AWS_ENDPOINT_URL", elsewhere)]).unwrap_err();
            assert_eq!(refused.variable, "AWS_ENDPOINT_URL", "{elsewhere}");
        }
        assert!(endpoint(&[("AWS_ENDPOINT_URL", "http://[::1]:8080")]).is_ok());
    }
}
