//! What every function's `main` starts with, whatever backends it uses: the settings, logs,
//! metrics, and the Lambda event loop that flushes those metrics after each invocation.
pub mod metrics;
pub mod telemetry;

use std::collections::HashMap;
use std::sync::OnceLock;

/// What a function's start and event loop fail with.
pub use lambda_runtime::Error;
pub use metrics::run;

/// The `errorType` of a start that failed on `error`: what Lambda's answer and log show.
fn init_error_type(error: &(dyn std::error::Error + 'static)) -> &'static str {
    if error.is::<booking_core::config::ConfigError>() {
        "ConfigError"
    } else if error.is::<booking_core::ports::StoreError>() {
        "StoreError"
    } else {
        "InitError"
    }
}

/// Tells the Runtime API that this function could not start, and why (`/runtime/init/error`).
/// Without it the process merely exits, and Lambda (as its runtime emulator) answers the
/// invocation with `Runtime.ExitError` and no reason; with it, the answer and the log name
/// the error, e.g. `ConfigError: invalid configuration: SETTINGS_SECRET_ARN ...`. Outside
/// Lambda (no `AWS_LAMBDA_RUNTIME_API`) nothing is sent; a report that fails is only printed.
pub async fn report_init_error(error: &(dyn std::error::Error + 'static)) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let error_type = init_error_type(error);
    let body = serde_json::json!({"errorType": error_type, "errorMessage": error.to_string()});
    let sent = async {
        let client = lambda_runtime_api_client::Client::builder()
            .with_endpoint(format!("http://{api}").parse()?)
            .build()?;
        let request = lambda_runtime_api_client::build_request()
            .method("POST")
            .uri("/2018-06-01/runtime/init/error")
            .header("content-type", "application/json")
            .header("lambda-runtime-function-error-type", error_type)
            .body(lambda_runtime_api_client::body::Body::from(
                body.to_string(),
            ))?;
        client.call(request).await?;
        Ok::<_, lambda_runtime::Error>(())
    };
    if let Err(report) = sent.await {
        eprintln!("could not report the failed start to the Runtime API: {report}");
    }
}

/// A function's start after its settings are readable: logging, then `build`, whose failure is
/// reported to the Runtime API ([`report_init_error`]) and returned, so the process exits.
pub async fn start_with<T>(
    build: impl AsyncFnOnce(fn(&str) -> Option<String>) -> Result<T, lambda_runtime::Error>,
) -> Result<T, lambda_runtime::Error> {
    start();
    let built = build(setting).await;
    if let Err(error) = &built {
        report_init_error(error.as_ref()).await;
    }
    built
}

/// Installs logging: a function's first step, once its settings are readable (after
/// `booking_secrets::load_settings` in a function that reads the settings secret).
pub fn start() {
    telemetry::init();
}

static SECRET_SETTINGS: OnceLock<HashMap<String, String>> = OnceLock::new();

/// The settings a secret supplied (booking-secrets reads it at cold start): [`setting`] answers
/// from them first. A second call keeps the first.
pub fn install_secret_settings(settings: HashMap<String, String>) {
    let _ = SECRET_SETTINGS.set(settings);
}

/// Whether the settings secret was read already.
pub fn secret_settings_installed() -> bool {
    SECRET_SETTINGS.get().is_some()
}

/// A setting: from the settings secret if it holds it, else from the environment. What every
/// function's settings are read through.
pub fn setting(name: &str) -> Option<String> {
    secret_first(SECRET_SETTINGS.get(), |name| std::env::var(name).ok())(name)
}

/// The lookup [`setting`] is, over a given secret and environment (tests pass their own).
pub fn secret_first<'a>(
    secret: Option<&'a HashMap<String, String>>,
    env: impl Fn(&str) -> Option<String> + 'a,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        secret
            .and_then(|secret| secret.get(name).cloned())
            .or_else(|| env(name))
    }
}
