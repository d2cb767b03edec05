//! Logs: JSON lines when Lambda's log format is JSON (CloudWatch then indexes the fields), with
//! the span list on every line, so the runtime's `requestId` and `xrayTraceId` (fields of its
//! per-invocation span) travel with each line; readable text otherwise. Level from `RUST_LOG`,
//! else `AWS_LAMBDA_LOG_LEVEL`, else info.
use std::env;

use tracing::{Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// How the logs are written, read from the environment once per container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// An `EnvFilter` directive such as `info` or `shared=debug,info`.
    pub level: String,
    pub json: bool,
}

impl LogSettings {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let level = lookup("RUST_LOG")
            .or_else(|| {
                // Lambda's levels are TRACE..FATAL; tracing has no FATAL.
                lookup("AWS_LAMBDA_LOG_LEVEL").map(|l| match l.to_lowercase().as_str() {
                    "fatal" => "error".to_owned(),
                    other => other.to_owned(),
                })
            })
            .unwrap_or_else(|| "info".to_owned());
        Self {
            level,
            json: lookup("AWS_LAMBDA_LOG_FORMAT").as_deref() == Some("JSON"),
        }
    }
}

/// The subscriber every function installs; tests build it with their own writer, so they check
/// the very configuration production uses.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    // At TRACE, lambda_runtime logs each raw event, i.e. the whole booking body with the
    // person's ID, names, phone and address. TRACE stays available for our own code only.
    let no_dependency_trace =
        filter_fn(|meta| *meta.level() != Level::TRACE || meta.target().starts_with("booking_"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(no_dependency_trace);
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        // Lambda adds its own timestamp to every line.
        .without_time()
        .with_writer(writer);
    if settings.json {
        // The span list, not only the current span: inside the Redis or broker span the
        // current span is that one, and the request id lives on the outermost.
        Box::new(
            registry.with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true),
            ),
        )
    } else {
        Box::new(registry.with(layer.with_ansi(false)))
    }
}

/// Logs to stdout as the environment asks. Every function's `main` calls it first.
pub fn init() {
    booking_core::pseudonym::init_key(crate::setting(booking_core::pseudonym::KEY_VARIABLE));
    // A second init (tests, local tools) keeps the first subscriber.
    drop(tracing::subscriber::set_global_default(subscriber(
        &LogSettings::from_env(),
        std::io::stdout,
    )));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment() {
        let settings = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            LogSettings::from_lookup(move |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        assert_eq!(
            settings(&[]),
            LogSettings {
                level: "info".into(),
                json: false
            }
        );
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")]).level,
            "debug"
        );
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).level,
            "error"
        );
        assert_eq!(
            settings(&[("RUST_LOG", "warn"), ("AWS_LAMBDA_LOG_LEVEL", "DEBUG")]).level,
            "warn"
        );
        assert!(settings(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).json);
        assert!(!settings(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]).json);
    }
}
