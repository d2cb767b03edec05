//! What every function's `main` starts with, whatever backends it uses: the settings (the
//! environment, and the settings secret at cold start), logs, metrics, and the Lambda event
//! loop that flushes those metrics after each invocation.
pub mod metrics;
pub mod secrets;
pub mod telemetry;

pub use metrics::run;
pub use secrets::setting;

use booking_core::config::ConfigError;

/// A function's first step: reads the settings secret (when `SETTINGS_SECRET_ARN` names one)
/// and installs logging. Settings are read through [`setting`] after it.
pub async fn start() -> Result<(), ConfigError> {
    secrets::load_from_env().await?;
    telemetry::init();
    Ok(())
}

/// Runs an HTTP handler as the Lambda function's event loop, flushing its metrics after each
/// invocation. Handlers turn every failure into a response with the JSON error body, so the
/// runtime never reports an invocation error.
#[cfg(feature = "http")]
pub async fn serve_http<'a, H, F>(handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(lambda_http::Request) -> F,
    F: std::future::Future<Output = lambda_http::Response<lambda_http::Body>> + Send + 'a,
{
    run(lambda_http::Adapter::from(lambda_http::service_fn(
        |request| {
            let response = handler(request);
            async move { Ok::<_, lambda_http::Error>(response.await) }
        },
    )))
    .await
}
