//! The Secrets Manager client over the wire: the function's own signed GetSecretValue against a
//! stand-in for the service on 127.0.0.1 that speaks its JSON protocol, so what is sent and
//! parsed is checked without an AWS account.
use std::time::Duration;

use crate::helpers::stand_in;
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
