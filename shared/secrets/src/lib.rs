//! The secret settings. When `SETTINGS_SECRET_ARN` is set, that Secrets Manager secret (a JSON
//! object such as `{"REDIS_URL": "rediss://:token@host:6379", "LOG_HASH_KEY": "..."}`)
//! supplies them, read once at cold start, and [`crate::setting`] finds them there; without it
//! (local runs, tests) everything comes from the environment.
//!
//! Secrets Manager rather than SSM SecureString: CloudFormation cannot create SecureString
//! parameters, one JSON secret is one call for every key, and ElastiCache AUTH-token rotation
//! works with it. The call is one SigV4-signed HTTPS request ([`SecretsManager`]), not the AWS
//! SDK: the SDK's second HTTP stack and its credential chain tripled every function's size for
//! this one call at cold start. Its signer, [`SignedClient`], also sends the one-time codes'
//! SMS (crate booking-otp).
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use booking_core::config::{AwsEnvironment, ConfigError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;

pub const SECRET_VARIABLE: &str = "SETTINGS_SECRET_ARN";

/// The settings a secret may hold; any other key is refused, so a typo fails the start instead
/// of silently leaving the setting at its local default.
pub const SECRET_SETTINGS: [&str; 6] = [
    "REDIS_URL",
    "LOG_HASH_KEY",
    "BOOKING_REFERENCE_KEY",
    "ADMISSION_KEY",
    "CHECKIN_KEY",
    "IDENTITY_TOKEN_KEY",
];

/// Where a secret's text comes from: Secrets Manager in AWS, a fake in tests.
#[async_trait]
pub trait SecretSource {
    async fn secret_string(&self, secret_id: &str) -> Result<String, String>;
}

/// One AWS endpoint called with SigV4-signed HTTPS requests, by hand: the function's own
/// credentials and region ([`AwsEnvironment`]) on the HTTP client lambda_runtime links already.
/// Secrets Manager's GetSecretValue and SNS's Publish (crate booking-otp) go through it.
pub struct SignedClient {
    endpoint: hyper::Uri,
    aws: AwsEnvironment,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl SignedClient {
    /// `endpoint` as [`AwsEnvironment::endpoint`] gave it; `variable` names the setting it came
    /// from, for the error.
    pub fn new(
        aws: AwsEnvironment,
        endpoint: &str,
        variable: &'static str,
    ) -> Result<Self, ConfigError> {
        let endpoint = format!("{endpoint}/").parse().map_err(|_| ConfigError {
            variable,
            problem: format!("is not a URL: {endpoint:?}"),
        })?;
        Ok(Self {
            endpoint,
            aws,
            client: Client::builder(TokioExecutor::new()).build(https_connector()),
        })
    }

    pub fn endpoint(&self) -> &hyper::Uri {
        &self.endpoint
    }

    /// A POST of `body` to the endpoint with `headers` (and `host`), signed for `service` at
    /// `now`, ready to send.
    pub fn request(
        &self,
        service: &str,
        headers: &[(&str, &str)],
        body: String,
        now: SystemTime,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        let host = self
            .endpoint
            .authority()
            .map(ToString::to_string)
            .unwrap_or_default();
        let headers: Vec<(&str, &str)> = std::iter::once(("host", host.as_str()))
            .chain(headers.iter().copied())
            .collect();
        let identity: Identity = Credentials::new(
            &self.aws.access_key_id,
            self.aws.secret_access_key.expose_secret(),
            self.aws
                .session_token
                .as_ref()
                .map(|token| token.expose_secret().to_owned()),
            None,
            "environment",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.aws.region)
            .name(service)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let uri = self.endpoint.to_string();
        let signable = SignableRequest::new(
            "POST",
            &uri,
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut request = hyper::Request::post(uri);
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())
    }

    /// Sends `request` and reads the whole answer, within `timeout`.
    pub async fn send(
        &self,
        request: hyper::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<(hyper::StatusCode, Bytes), String> {
        exchange(&self.client, request, &self.endpoint.to_string(), timeout).await
    }
}

/// Secrets Manager's GetSecretValue, one signed request with the function's own credentials
/// and region ([`AwsEnvironment`]); `AWS_ENDPOINT_URL_SECRETS_MANAGER` points it elsewhere.
pub struct SecretsManager {
    client: SignedClient,
}

/// Connecting, signing and reading the answer: well inside the template's 10 s init budget.
const SECRETS_TIMEOUT: Duration = Duration::from_secs(5);

impl SecretsManager {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let aws = AwsEnvironment::from_lookup(&lookup, SECRET_VARIABLE)?;
        let endpoint = aws.endpoint(&lookup, "SECRETS_MANAGER", "secretsmanager")?;
        Ok(Self {
            client: SignedClient::new(aws, &endpoint, "AWS_ENDPOINT_URL_SECRETS_MANAGER")?,
        })
    }

    /// The signed request, ready to send.
    fn request(
        &self,
        secret_id: &str,
        now: SystemTime,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        let body = serde_json::json!({ "SecretId": secret_id }).to_string();
        self.client.request(
            "secretsmanager",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "secretsmanager.GetSecretValue"),
            ],
            body,
            now,
        )
    }
}

/// TLS with the public roots (AWS's endpoints chain to them), on ring: the one crypto provider
/// the Redis client uses too.
fn https_connector() -> hyper_rustls::HttpsConnector<HttpConnector> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build()
}

/// Sends `request` on `client` and reads the whole answer, within `timeout`; `what` names the
/// other end in errors.
async fn exchange(
    client: &Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
    what: &str,
    timeout: Duration,
) -> Result<(hyper::StatusCode, Bytes), String> {
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("cannot reach {what}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("the answer broke off: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("{what} did not answer within {timeout:?}"))?
}

/// The body of a `GET url` (`http://` or `https://`, public roots), for documents a function
/// reads once at cold start, such as an identity provider's JWKS. Bounded by the same timeout
/// as the secret; anything but a 2xx is an error.
pub async fn fetch_document(url: &str) -> Result<String, String> {
    let request = hyper::Request::get(url)
        .body(Full::new(Bytes::new()))
        .map_err(|_| format!("{url:?} is not a URL"))?;
    let client = Client::builder(TokioExecutor::new()).build(https_connector());
    let (status, body) = exchange(&client, request, url, SECRETS_TIMEOUT).await?;
    if !status.is_success() {
        return Err(format!("{url} answered HTTP {}", status.as_u16()));
    }
    String::from_utf8(body.to_vec()).map_err(|_| format!("{url} answered no UTF-8 text"))
}

#[async_trait]
impl SecretSource for SecretsManager {
    async fn secret_string(&self, secret_id: &str) -> Result<String, String> {
        let request = self.request(secret_id, SystemTime::now())?;
        let (status, body) = self.client.send(request, SECRETS_TIMEOUT).await?;
        let reply: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if !status.is_success() {
            // AWS's JSON errors: `__type` (maybe `prefix#Name`) and `message` or `Message`.
            let kind = reply["__type"].as_str().unwrap_or("error");
            let kind = kind.rsplit('#').next().unwrap_or(kind);
            let message = reply["message"]
                .as_str()
                .or_else(|| reply["Message"].as_str())
                .unwrap_or("");
            return Err(format!("{kind} (HTTP {}): {message}", status.as_u16()));
        }
        reply["SecretString"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the secret has no SecretString (binary secrets are not read)".into())
    }
}

/// Reads the secret named by `SETTINGS_SECRET_ARN` (if any) into this process, once, for
/// `booking_runtime::setting` to find. Call it first in a function's `main`, before anything
/// reads a setting.
pub async fn load_settings() -> Result<(), ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    // Unset: no client at all, so local runs and functions without it pay nothing.
    if booking_runtime::secret_settings_installed()
        || env(SECRET_VARIABLE).is_none_or(|id| id.trim().is_empty())
    {
        return Ok(());
    }
    let settings = resolve(env, &SecretsManager::from_lookup(env)?).await?;
    booking_runtime::install_secret_settings(settings);
    Ok(())
}

/// A function's start: the settings secret read ([`load_settings`]), logging on, then `build`
/// from the settings (`booking_runtime::setting`). A failure at any step is reported to the
/// Runtime API, so Lambda's answer names it (see `booking_runtime::report_init_error`), and
/// returned, so the process exits.
pub async fn start<T>(
    build: impl AsyncFnOnce(fn(&str) -> Option<String>) -> Result<T, booking_runtime::Error>,
) -> Result<T, booking_runtime::Error> {
    if let Err(error) = load_settings().await {
        booking_runtime::report_init_error(&error).await;
        return Err(error.into());
    }
    booking_runtime::start_with(build).await
}

/// The secret settings `env` points to, fetched from `source`: empty when `SETTINGS_SECRET_ARN`
/// is unset. It may name several secrets, comma-separated (the template gives each function
/// only the ones it needs: Redis's, the signing keys'); each is read once, and a key held by
/// two of them, or by one and the environment, is refused. Refuses what would leave a setting
/// ambiguous or wrong, naming the key.
pub async fn resolve(
    env: impl Fn(&str) -> Option<String>,
    source: &impl SecretSource,
) -> Result<HashMap<String, String>, ConfigError> {
    let ids = env(SECRET_VARIABLE).unwrap_or_default();
    let problem = |problem: String| ConfigError {
        variable: SECRET_VARIABLE,
        problem,
    };
    let mut settings = HashMap::new();
    for secret_id in ids.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        let text = source
            .secret_string(secret_id)
            .await
            .map_err(|error| problem(format!("{secret_id} could not be read: {error}")))?;
        // serde_json's messages quote no input, so a broken secret is not echoed to the logs.
        let object: HashMap<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|_| problem(format!("{secret_id} is not a JSON object of string values")))?;
        for (key, value) in object {
            if !SECRET_SETTINGS.contains(&key.as_str()) {
                return Err(problem(format!(
                    "{secret_id} holds {key:?}; a secret may hold only {}",
                    SECRET_SETTINGS.join(", ")
                )));
            }
            let serde_json::Value::String(value) = value else {
                return Err(problem(format!("{secret_id} holds {key} as a non-string")));
            };
            if env(&key).is_some_and(|v| !v.is_empty()) {
                return Err(problem(format!(
                    "{secret_id} holds {key}, which the environment sets too: keep one"
                )));
            }
            if settings.insert(key.clone(), value).is_some() {
                return Err(problem(format!(
                    "names two secrets that both hold {key}: keep one"
                )));
            }
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers from a fixed text and records what was asked for.
    struct FakeSource {
        reply: Result<&'static str, &'static str>,
        asked: Mutex<Vec<String>>,
    }

    impl FakeSource {
        fn new(reply: Result<&'static str, &'static str>) -> Self {
            Self {
                reply,
                asked: Mutex::new(Vec::new()),
            }
        }
    }

    #[async_trait]
    impl SecretSource for FakeSource {
        async fn secret_string(&self, secret_id: &str) -> Result<String, String> {
            self.asked.lock().unwrap().push(secret_id.to_owned());
            self.reply.map(str::to_owned).map_err(str::to_owned)
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    const ARN: &str = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:booking-AbCdEf";

    #[tokio::test]
    async fn without_the_variable_nothing_is_fetched() {
        let source = FakeSource::new(Ok("{}"));
        for pairs in [&[][..], &[(SECRET_VARIABLE, " ")][..]] {
            let settings = resolve(env(pairs), &source).await.unwrap();
            assert!(settings.is_empty());
        }
        assert!(source.asked.lock().unwrap().is_empty(), "no call at all");
    }

    #[tokio::test]
    async fn the_secret_supplies_its_settings_with_one_read() {
        let source = FakeSource::new(Ok(
            r#"{"REDIS_URL":"rediss://:tok@cache:6379","LOG_HASH_KEY":"k1"}"#,
        ));
        let settings = resolve(
            env(&[(SECRET_VARIABLE, ARN), ("KAFKA_TOPIC", "t")]),
            &source,
        )
        .await
        .unwrap();
        assert_eq!(settings["REDIS_URL"], "rediss://:tok@cache:6379");
        assert_eq!(settings["LOG_HASH_KEY"], "k1");
        assert_eq!(settings.len(), 2);
        assert_eq!(*source.asked.lock().unwrap(), vec![ARN.to_owned()]);
    }

    /// A secret per id.
    struct Secrets(&'static [(&'static str, &'static str)]);

    #[async_trait]
    impl SecretSource for Secrets {
        async fn secret_string(&self, secret_id: &str) -> Result<String, String> {
            self.0
                .iter()
                .find(|(id, _)| *id == secret_id)
                .map(|(_, text)| (*text).to_owned())
                .ok_or_else(|| "ResourceNotFoundException".to_owned())
        }
    }

    #[tokio::test]
    async fn several_secrets_each_supply_their_own_settings_and_may_not_overlap() {
        const REDIS: &str = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:redis-Ab";
        const KEYS: &str = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:keys-Cd";
        let both = env(&[(
            SECRET_VARIABLE,
            concat!(
                "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:redis-Ab, ",
                "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:keys-Cd"
            ),
        )]);
        let settings = resolve(
            &both,
            &Secrets(&[
                (REDIS, r#"{"REDIS_URL":"rediss://:tok@cache:6379"}"#),
                (
                    KEYS,
                    r#"{"BOOKING_REFERENCE_KEY":"k1","ADMISSION_KEY":"k2"}"#,
                ),
            ]),
        )
        .await
        .unwrap();
        assert_eq!(settings.len(), 3);
        assert_eq!(settings["ADMISSION_KEY"], "k2");
        let overlap = resolve(
            &both,
            &Secrets(&[
                (REDIS, r#"{"REDIS_URL":"rediss://a"}"#),
                (KEYS, r#"{"REDIS_URL":"rediss://b"}"#),
            ]),
        )
        .await
        .unwrap_err();
        assert!(
            overlap.problem.contains("both hold REDIS_URL"),
            "{}",
            overlap.problem
        );
        let missing = resolve(&both, &Secrets(&[(REDIS, "{}")]))
            .await
            .unwrap_err();
        assert!(
            missing.problem.contains("keys-Cd"),
            "names the secret: {}",
            missing.problem
        );
    }

    #[tokio::test]
    async fn a_bad_secret_fails_the_start_naming_the_variable_and_key() {
        type Case = (
            Result<&'static str, &'static str>,
            &'static [(&'static str, &'static str)],
            &'static str,
        );
        let cases: [Case; 6] = [
            (Err("AccessDeniedException"), &[], "AccessDeniedException"),
            (Ok("not json"), &[], "JSON object"),
            (Ok(r#"["REDIS_URL"]"#), &[], "JSON object"),
            (Ok(r#"{"REDIS_ULR":"redis://x"}"#), &[], "REDIS_ULR"),
            (Ok(r#"{"LOG_HASH_KEY":42}"#), &[], "non-string"),
            (
                Ok(r#"{"REDIS_URL":"redis://a"}"#),
                &[("REDIS_URL", "redis://b")],
                "keep one",
            ),
        ];
        for (reply, extra, wanted) in cases {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(
                [&[(SECRET_VARIABLE, ARN)][..], extra]
                    .concat()
                    .into_boxed_slice(),
            );
            let error = resolve(env(pairs), &FakeSource::new(reply))
                .await
                .unwrap_err();
            assert_eq!(error.variable, SECRET_VARIABLE);
            assert!(
                error.problem.contains(wanted),
                "{reply:?}: {}",
                error.problem
            );
            assert!(
                !error.problem.contains("redis://a"),
                "values are never echoed: {}",
                error.problem
            );
        }
    }
}
