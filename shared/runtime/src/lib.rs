//! What every function's `main` starts with, whatever backends it uses: the settings, logs,
//! metrics, and the Lambda event loop that flushes those metrics after each invocation.
pub mod metrics;
pub mod telemetry;

use std::collections::HashMap;
use std::sync::OnceLock;

pub use metrics::run;

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
    SECRET_SETTINGS
        .get()
        .and_then(|secret| secret.get(name).cloned())
        .or_else(|| std::env::var(name).ok())
}
