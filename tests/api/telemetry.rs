//! What a booking's log lines show: the invocation's ids on every line, never the person.
use booking_core::domain::MySejahteraId;
use booking_runtime::telemetry::{self, LogSettings};
use lambda_runtime::Context;
use lambda_runtime::layers::trace::request_span;
use serde_json::Value;
use tracing::Instrument;

use crate::helpers::{Captured, TestApp, booking_json, spawn_app};

const REQUEST_ID: &str = "6f1c0c1e-0b8a-4d3e-9f57-2a7d31c9e001";
const TRACE_ID: &str = "Root=1-65f0c0de-fedcba98765432abcdef4321;Parent=53995c3f42cd8ad8;Sampled=1";
/// Every personal value the requests below carry.
const PERSONAL: [&str; 6] = [
    "880412105531",
    "770101015599",
    "Fadhil",
    "Yaacob",
    "Kuala Lumpur",
    "0123456789",
];

/// Runs `invocation` the way lambda_runtime does (inside its own per-invocation span) under the
/// subscriber `telemetry::init` installs, configured as the SAM template configures Lambda.
async fn logged<F: std::future::Future>(level: &str, invocation: F) -> (F::Output, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let settings = LogSettings::from_lookup(|name| match name {
        "AWS_LAMBDA_LOG_FORMAT" => Some("JSON".into()),
        "AWS_LAMBDA_LOG_LEVEL" => Some(level.into()),
        _ => None,
    });
    let _default =
        tracing::subscriber::set_default(telemetry::subscriber(&settings, move || writer.clone()));
    let mut context = Context::default();
    context.request_id = REQUEST_ID.into();
    context.xray_trace_id = Some(TRACE_ID.into());
    let output = invocation.instrument(request_span(&context)).await;
    (output, captured.text())
}

fn lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn assert_no_personal_data(output: &str) {
    for value in PERSONAL {
        assert!(!output.contains(value), "{value} appears in:\n{output}");
    }
}

async fn seeded() -> TestApp {
    let app = spawn_app().await;
    app.seed(1, &[("PWTC", 1)]).await;
    app
}

#[tokio::test]
async fn a_booking_and_its_refusals_log_the_request_id_and_no_personal_data() {
    let app = seeded().await;
    // DEBUG, as an operator would set while chasing a problem mid-rush.
    let ((booked, refused, invalid), output) = logged("DEBUG", async {
        let booked = app
            .post_booking(booking_json("880412105531", "PWTC", "20210516"))
            .await;
        let refused = app
            .post_booking(booking_json("770101015599", "PWTC", "20210516"))
            .await;
        let invalid = app
            .post_booking(
                booking_json("770101015599", "PWTC", "20210516")
                    .replace("\"0123456789\"", "\"01234567890123456789\""),
            )
            .await;
        (booked, refused, invalid)
    })
    .await;
    assert_eq!(booked.status, 201);
    assert_eq!(refused.error_code(), "fully_booked");
    assert_eq!(invalid.error_code(), "invalid_field");

    let lines = lines(&output);
    assert!(lines.len() >= 2, "{output}");
    for line in &lines {
        let outer = &line["spans"][0];
        assert_eq!(outer["requestId"], REQUEST_ID, "{line}");
        assert_eq!(outer["xrayTraceId"], TRACE_ID, "{line}");
    }
    let message = |text: &str| {
        lines
            .iter()
            .find(|l| l["message"] == text)
            .unwrap_or_else(|| panic!("no {text:?} line in:\n{output}"))
    };
    let confirmed = message("booking confirmed");
    let person =
        booking_core::pseudonym::person(&MySejahteraId::parse("880412105531").unwrap()).to_string();
    assert_eq!(confirmed["person"], person.as_str());
    assert_eq!(confirmed["location"], "PWTC");
    let refusal = message("booking refused");
    assert!(refusal["error"].as_str().unwrap().contains("no slots"));
    assert_no_personal_data(&output);
    // Nor does any error message the client gets back quote a personal value.
    assert_no_personal_data(&format!("{} {}", refused.body, invalid.body));
}

#[tokio::test]
async fn a_store_failure_logs_no_personal_data() {
    let mut app = seeded().await;
    app.redis.stop();
    let (response, output) = logged("INFO", async {
        app.post_booking(booking_json("880412105531", "PWTC", "20210516"))
            .await
    })
    .await;
    assert_eq!(response.error_code(), "store_unavailable");
    let lines = lines(&output);
    assert!(
        lines.iter().any(|l| l["message"] == "store failed"),
        "{output}"
    );
    for line in &lines {
        assert_eq!(line["spans"][0]["requestId"], REQUEST_ID, "{line}");
    }
    assert_no_personal_data(&output);
}

#[test]
fn dependencies_never_log_at_trace_even_when_asked() {
    let captured = Captured::default();
    let writer = captured.clone();
    let settings = LogSettings {
        level: "trace".into(),
        json: true,
    };
    let subscriber = telemetry::subscriber(&settings, move || writer.clone());
    tracing::subscriber::with_default(subscriber, || {
        // What lambda_runtime does with every event at TRACE: the body is the booking.
        tracing::trace!(
            target: "lambda_runtime::layers::api_response",
            body = "{\"firstName\":\"Fadhil\"}",
            "raw JSON event received from Lambda"
        );
        tracing::debug!(target: "lambda_runtime::runtime", "dependency debug stays");
        tracing::trace!(target: "booking_core::booking", "our own trace stays");
    });
    let output = captured.text();
    assert!(!output.contains("Fadhil"), "{output}");
    assert!(output.contains("dependency debug stays"), "{output}");
    assert!(output.contains("our own trace stays"), "{output}");
}
