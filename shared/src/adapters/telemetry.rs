//! Logging set-up: JSON lines when Lambda's log format is JSON (CloudWatch then indexes the
//! fields), readable text otherwise. Level from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else info.
use std::env;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let level = env::var("RUST_LOG")
        .or_else(|_| env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Lambda adds its own timestamp to every line.
        .without_time();
    let result = if env::var("AWS_LAMBDA_LOG_FORMAT").as_deref() == Ok("JSON") {
        builder.json().try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
    // A second init (tests, local tools) keeps the first subscriber.
    drop(result);
}
