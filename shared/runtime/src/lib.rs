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
