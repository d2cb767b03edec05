//! Secret settings from AWS Secrets Manager, read once at cold start. When `SETTINGS_SECRET_ARN`
//! is set, that secret (a JSON object such as `{"REDIS_URL": "rediss://:token@host:6379",
//! "LOG_HASH_KEY": "..."}`) supplies the secret settings, and [`crate::config::setting`] finds
//! them there; without it (local runs, tests) everything comes from the environment as before.
//!
//! Secrets Manager rather than SSM SecureString: CloudFormation cannot create SecureString
//! parameters, one JSON secret is one call for every key, ElastiCache AUTH-token rotation works
//! with it, and its SDK crate is a small addition to the aws-config the MSK lookup already
//! links. Only functions given the variable pay for the call.
use std::collections::HashMap;
use std::sync::OnceLock;

use async_trait::async_trait;

use crate::config::ConfigError;

pub const SECRET_VARIABLE: &str = "SETTINGS_SECRET_ARN";

/// The settings a secret may hold; any other key is refused, so a typo fails the start instead
/// of silently leaving the setting at its local default.
pub const SECRET_SETTINGS: [&str; 4] = [
    "REDIS_URL",
    "LOG_HASH_KEY",
    "BOOKING_REFERENCE_KEY",
    "ADMISSION_KEY",
];

/// Where a secret's text comes from: Secrets Manager in AWS, a fake in tests.
#[async_trait]
pub trait SecretSource {
    async fn secret_string(&self, secret_id: &str) -> Result<String, String>;
}

/// Secrets Manager through the SDK.
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    /// With the function's own role and region, as Lambda provides them.
    pub async fn from_env() -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(aws_sdk_secretsmanager::Client::new(&sdk))
    }

    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretSource for SecretsManager {
    async fn secret_string(&self, secret_id: &str) -> Result<String, String> {
        let reply = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
        reply
            .secret_string()
            .map(str::to_owned)
            .ok_or_else(|| "the secret has no SecretString (binary secrets are not read)".into())
    }
}

static LOADED: OnceLock<HashMap<String, String>> = OnceLock::new();

/// Reads the secret named by `SETTINGS_SECRET_ARN` (if any) into this process, once. Call it
/// first in a function's `main`, before anything reads a setting.
pub async fn load_from_env() -> Result<(), ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    // Unset: no SDK set-up at all, so local runs and functions without it pay nothing.
    if LOADED.get().is_some() || env(SECRET_VARIABLE).is_none_or(|id| id.trim().is_empty()) {
        return Ok(());
    }
    let settings = resolve(env, &SecretsManager::from_env().await).await?;
    let _ = LOADED.set(settings);
    Ok(())
}

/// A secret setting loaded by [`load_from_env`], if the secret holds it.
pub(crate) fn loaded(name: &str) -> Option<String> {
    LOADED.get()?.get(name).cloned()
}

/// The secret settings `env` points to, fetched from `source`: empty when `SETTINGS_SECRET_ARN`
/// is unset. Refuses what would leave a setting ambiguous or wrong, naming the key.
pub async fn resolve(
    env: impl Fn(&str) -> Option<String>,
    source: &impl SecretSource,
) -> Result<HashMap<String, String>, ConfigError> {
    let Some(secret_id) = env(SECRET_VARIABLE).filter(|id| !id.trim().is_empty()) else {
        return Ok(HashMap::new());
    };
    let problem = |problem: String| ConfigError {
        variable: SECRET_VARIABLE,
        problem,
    };
    let text = source
        .secret_string(&secret_id)
        .await
        .map_err(|error| problem(format!("could not be read: {error}")))?;
    // serde_json's messages quote no input, so a broken secret is not echoed to the logs.
    let object: HashMap<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|_| problem("is not a JSON object of string values".into()))?;
    let mut settings = HashMap::new();
    for (key, value) in object {
        if !SECRET_SETTINGS.contains(&key.as_str()) {
            return Err(problem(format!(
                "holds {key:?}; a secret may hold only {}",
                SECRET_SETTINGS.join(", ")
            )));
        }
        let serde_json::Value::String(value) = value else {
            return Err(problem(format!("holds {key} as a non-string")));
        };
        if env(&key).is_some_and(|v| !v.is_empty()) {
            return Err(problem(format!(
                "holds {key}, which the environment sets too: keep one"
            )));
        }
        settings.insert(key, value);
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
