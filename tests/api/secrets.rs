//! The Secrets Manager client over the wire: the function's own signed GetSecretValue against a
//! stand-in for the service on 127.0.0.1 that speaks its JSON protocol, so what is sent and
//! parsed is checked without an AWS account; then a function's cold start against moto, which
//! implements the service (its own secrets, ARNs and errors).
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::helpers::{ServerProcess, TEST_CHECKIN_KEY, aws_json_call, redis_cli, stand_in};
use booking_core::config::ConfigError;
use booking_redis::config::RedisConfig;
use booking_secrets::{SECRET_VARIABLE, SecretsManager, resolve};

const ARN: &str = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:booking-AbCdEf";

/// The client as a function builds it from Lambda's variables, pointed at the stand-in.
fn client(url: &str) -> SecretsManager {
    SecretsManager::from_lookup(booking_core::config::fixed_lookup(&[
        ("AWS_REGION", "ap-southeast-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ("AWS_SESSION_TOKEN", "test-session-token"),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", url),
    ]))
    .expect("a valid client")
}

fn env(name: &str) -> Option<String> {
    (name == SECRET_VARIABLE).then(|| ARN.to_owned())
}

#[tokio::test]
async fn the_secret_is_fetched_once_and_its_settings_parsed() {
    let secret = r#"{"REDIS_URL":"rediss://:tok@cache:6379","LOG_HASH_KEY":"k1"}"#;
    let body = serde_json::json!({"ARN": ARN, "Name": "booking/settings", "SecretString": secret})
        .to_string();
    let (url, server) = stand_in("200 OK", body).await;

    let settings = tokio::time::timeout(Duration::from_secs(20), resolve(env, &client(&url)))
        .await
        .expect("an answer in time")
        .unwrap();

    assert_eq!(settings["REDIS_URL"], "rediss://:tok@cache:6379");
    assert_eq!(settings["LOG_HASH_KEY"], "k1");
    let request = server.await.unwrap();
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains("x-amz-target: secretsmanager.getsecretvalue"),
        "{request}"
    );
    assert!(lower.contains("authorization: aws4-hmac-sha256"), "signed");
    assert!(
        lower.contains("/ap-southeast-1/secretsmanager/aws4_request"),
        "scoped to the region and service: {request}"
    );
    assert!(
        lower.contains("x-amz-security-token: test-session-token"),
        "the session token travels: {request}"
    );
    assert!(
        request.contains(&format!(r#""SecretId":"{ARN}""#)),
        "{request}"
    );
}

#[tokio::test]
async fn a_refusal_fails_the_start_naming_the_variable_and_the_reason() {
    let body = r#"{"__type":"ResourceNotFoundException","message":"no such secret"}"#.to_owned();
    let (url, server) = stand_in("400 Bad Request", body).await;

    let error = tokio::time::timeout(Duration::from_secs(20), resolve(env, &client(&url)))
        .await
        .expect("an answer in time")
        .unwrap_err();

    assert_eq!(error.variable, SECRET_VARIABLE);
    assert!(
        error.problem.contains("ResourceNotFoundException"),
        "{}",
        error.problem
    );
    server.await.unwrap();
}

/// moto's Secrets Manager, holding the secrets a test creates.
struct SecretsService {
    moto: ServerProcess,
}

const REGION: &str = "ap-southeast-1";
/// Long enough for the deployed rule (at least 32 characters).
const REFERENCE_KEY: &str = "moto test booking reference key, 41 chars";

impl SecretsService {
    fn start() -> Self {
        Self {
            moto: ServerProcess::moto(),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.moto.port)
    }

    /// Creates `name` holding `settings` as its JSON SecretString; its ARN (moto adds the
    /// random six-character suffix AWS does).
    async fn create(&self, name: &str, settings: &serde_json::Value) -> String {
        let (status, reply) = aws_json_call(
            self.moto.port,
            "secretsmanager",
            REGION,
            "secretsmanager.CreateSecret",
            &serde_json::json!({"Name": name, "SecretString": settings.to_string()}),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        reply["ARN"].as_str().unwrap().to_owned()
    }
}

/// What Lambda gives a deployed function (LAMBDA_TASK_ROOT makes it "deployed"), the
/// template's SETTINGS_SECRET_ARN, and the endpoint override pointing at `endpoint`.
fn lambda_environment(arn: &str, endpoint: &str) -> impl Fn(&str) -> Option<String> + use<> {
    booking_core::config::fixed_lookup(&[
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ("AWS_SESSION_TOKEN", "test-session-token"),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint),
        (SECRET_VARIABLE, arn),
    ])
}

/// A function's cold start up to its settings, as `booking_secrets::load_settings` and
/// `booking_runtime::setting` do it: the secret read once, then each setting from the secret
/// first and the environment second.
async fn cold_start(
    environment: &impl Fn(&str) -> Option<String>,
) -> Result<HashMap<String, String>, ConfigError> {
    let client = SecretsManager::from_lookup(environment)?;
    tokio::time::timeout(Duration::from_secs(20), resolve(environment, &client))
        .await
        .expect("the cold start ends in time")
}

#[tokio::test]
async fn the_settings_secret_from_secrets_manager_configures_the_functions() {
    let redis = ServerProcess::redis();
    let service = SecretsService::start();
    let arn = service
        .create(
            "booking/settings",
            &serde_json::json!({"REDIS_URL": redis.url(), "BOOKING_REFERENCE_KEY": REFERENCE_KEY, "CHECKIN_KEY": TEST_CHECKIN_KEY}),
        )
        .await;
    let environment = lambda_environment(&arn, &service.endpoint());

    let secret = cold_start(&environment).await.expect("the secret is read");

    assert_eq!(secret["REDIS_URL"], redis.url());
    let lookup = booking_runtime::secret_first(Some(&secret), &environment);
    // The deployed function needs the key, and has it only from the secret.
    get_booking::Settings::from_lookup(&lookup).expect("get-booking's settings are complete");
    // The Redis it writes to is the one the secret names (the environment names none).
    let seed = seed::Seed::build(RedisConfig::from_lookup(&lookup).unwrap()).unwrap();
    seed.service()
        .seed(crate::helpers::one_station_seed(
            "20210516", 1, "MOTO", 5, false,
        ))
        .await
        .expect("seeding works");
    assert_eq!(
        redis_cli(redis.port, &["smembers", "stations"]).trim(),
        "MOTO"
    );
}

#[tokio::test]
async fn a_secret_without_a_key_the_function_needs_fails_its_start_naming_the_key() {
    let service = SecretsService::start();
    let arn = service
        .create(
            "booking/settings",
            &serde_json::json!({"REDIS_URL": "redis://127.0.0.1:1"}),
        )
        .await;
    let environment = lambda_environment(&arn, &service.endpoint());

    let secret = cold_start(&environment).await.expect("the secret is read");

    let lookup = booking_runtime::secret_first(Some(&secret), &environment);
    let error = get_booking::Settings::from_lookup(&lookup)
        .err()
        .expect("no reference key, no start");
    assert_eq!(error.variable, "BOOKING_REFERENCE_KEY");
}

#[tokio::test]
async fn a_wrong_secret_arn_fails_the_start_naming_the_variable() {
    let service = SecretsService::start();
    let arn = service
        .create("booking/settings", &serde_json::json!({}))
        .await;
    // Another secret's ARN: a typo in the name, the real one's suffix.
    let wrong = arn.replace("booking/settings", "booking/setings");

    let error = cold_start(&lambda_environment(&wrong, &service.endpoint()))
        .await
        .unwrap_err();

    assert_eq!(error.variable, SECRET_VARIABLE);
    // moto answers 404 where AWS answers 400; the code is the same.
    assert!(
        error.problem.contains("ResourceNotFoundException"),
        "{}",
        error.problem
    );
}

#[tokio::test]
async fn an_unreachable_secrets_endpoint_fails_the_start_naming_the_variable() {
    // A port nothing listens on: moto started and stopped.
    let endpoint = SecretsService::start().endpoint();
    let started = Instant::now();

    let error = cold_start(&lambda_environment(ARN, &endpoint))
        .await
        .unwrap_err();

    assert_eq!(error.variable, SECRET_VARIABLE);
    assert!(error.problem.contains("cannot reach"), "{}", error.problem);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "within the client's own timeout: {:?}",
        started.elapsed()
    );
}
