//! Metrics through the `metrics` facade. In Lambda the recorder is CloudWatch Embedded Metric
//! Format: one JSON document per label set on stdout, flushed after each invocation, which
//! CloudWatch turns into metrics without any API call on the request path. In `local-api` it is
//! a Prometheus recorder behind `GET /metrics`. Recording is an atomic add or a bounded channel
//! send, so it cannot fail or slow a booking; without a recorder it does nothing.
//!
//! Dimensions stay few and bounded: the function (Lambda only), a rejection `reason`, a store
//! `operation`, a broker `outcome`. Never the person, and never the station: a location in a
//! refused request is whatever the client sent, so it would be an unbounded dimension.
use std::fmt::Debug;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::Stream;
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Diagnostic, IntoFunctionResponse, LambdaEvent, Runtime, Service};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_cloudwatch_embedded::Collector;
use metrics_cloudwatch_embedded::lambda::MetricsLayer;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

/// New bookings stored (a repeated identical request is not one).
pub const BOOKINGS_CREATED: &str = "bookings_created";
/// Identical booking requests answered 200 with the booking already held (client retries).
pub const BOOKINGS_REPEATED: &str = "bookings_repeated";
/// Booking requests refused, by `reason` (see [`RejectReason`]).
pub const BOOKINGS_REJECTED: &str = "bookings_rejected";
/// Bookings cancelled (their slot is free again).
pub const BOOKINGS_CANCELLED: &str = "bookings_cancelled";
/// Milliseconds per Redis round trip, by `operation`.
pub const STORE_LATENCY: &str = "store_latency_ms";
/// Milliseconds per publish to the broker (until acknowledged, refused or timed out), by
/// `outcome`.
pub const BROKER_LATENCY: &str = "broker_latency_ms";
/// Events waiting in the outbox after a relay run.
pub const OUTBOX_DEPTH: &str = "outbox_depth";
/// Events the relay published.
pub const OUTBOX_PUBLISHED: &str = "outbox_published";

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "VaccineBooking";

/// Why a booking request was refused; the `reason` dimension of [`BOOKINGS_REJECTED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    FullyBooked,
    AlreadyBooked,
    /// The request itself was wrong: a field, the JSON, the media type, the size, the method.
    Invalid,
    /// No such station, or no slots on that date.
    NotFound,
    /// The store failed or did not answer: nothing was confirmed.
    StoreError,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullyBooked => "fully_booked",
            Self::AlreadyBooked => "already_booked",
            Self::Invalid => "invalid",
            Self::NotFound => "not_found",
            Self::StoreError => "store_error",
        }
    }

    /// The reason behind one of the API's stable error codes.
    pub fn from_error_code(code: &str) -> Self {
        match code {
            "fully_booked" => Self::FullyBooked,
            "already_booked" => Self::AlreadyBooked,
            "station_not_found" | "date_not_found" => Self::NotFound,
            "store_unavailable" | "internal_error" => Self::StoreError,
            _ => Self::Invalid,
        }
    }
}

pub fn booking_created(newly_created: bool) {
    let name = if newly_created {
        BOOKINGS_CREATED
    } else {
        BOOKINGS_REPEATED
    };
    counter!(name).increment(1);
}

pub fn booking_rejected(reason: RejectReason) {
    counter!(BOOKINGS_REJECTED, "reason" => reason.as_str()).increment(1);
}

pub fn booking_cancelled() {
    counter!(BOOKINGS_CANCELLED).increment(1);
}

/// Runs one store round trip inside a span named after it and records its latency.
pub async fn store_call<T>(operation: &'static str, call: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = call
        .instrument(tracing::info_span!("redis", operation))
        .await;
    metrics::histogram!(STORE_LATENCY, "operation" => operation).record(millis(started.elapsed()));
    result
}

/// `outcome` is `ok`, `error` or `timeout`.
pub fn broker_call(outcome: &'static str, elapsed: Duration) {
    metrics::histogram!(BROKER_LATENCY, "outcome" => outcome).record(millis(elapsed));
}

pub fn relay_run(published: u64, depth: u64) {
    counter!(OUTBOX_PUBLISHED).increment(published);
    // Gauges are f64; an outbox deeper than 2^53 is not a concern.
    #[allow(clippy::cast_precision_loss)]
    gauge!(OUTBOX_DEPTH).set(depth as f64);
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// Units and help texts: CloudWatch shows the unit, Prometheus the help.
fn describe() {
    describe_counter!(BOOKINGS_CREATED, Unit::Count, "New bookings stored");
    describe_counter!(
        BOOKINGS_REPEATED,
        Unit::Count,
        "Identical booking requests answered with the booking already held"
    );
    describe_counter!(
        BOOKINGS_REJECTED,
        Unit::Count,
        "Booking requests refused, by reason"
    );
    describe_counter!(BOOKINGS_CANCELLED, Unit::Count, "Bookings cancelled");
    describe_histogram!(
        STORE_LATENCY,
        Unit::Milliseconds,
        "Redis round trip, by operation"
    );
    describe_histogram!(
        BROKER_LATENCY,
        Unit::Milliseconds,
        "Publish to the broker until acknowledged, refused or timed out"
    );
    describe_gauge!(
        OUTBOX_DEPTH,
        Unit::Count,
        "Events waiting in the outbox after a relay run"
    );
    describe_counter!(OUTBOX_PUBLISHED, Unit::Count, "Events the relay published");
}

/// The EMF recorder of this process, installed on first use with `function` as its one fixed
/// dimension. None if another recorder was installed first (metrics are then that recorder's).
pub fn emf_collector(function: &str) -> Option<&'static Collector> {
    static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();
    *COLLECTOR.get_or_init(|| {
        let installed = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(NAMESPACE)
            .with_dimension("function", function.to_owned())
            // Properties, not dimensions: searchable in the log line, no metric per request.
            .with_lambda_request_id("requestId")
            .with_lambda_xray_trace_id("xrayTraceId")
            .init();
        match installed {
            Ok(collector) => {
                describe();
                Some(collector)
            }
            Err(error) => {
                tracing::warn!(%error, "no EMF metrics: another recorder is installed");
                None
            }
        }
    })
}

/// `lambda_runtime::run` plus the EMF layer, which flushes this invocation's metrics to stdout
/// once the handler has answered. Every function runs through this.
pub async fn run<A, F, R, B, S, D, E>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Service<LambdaEvent<A>, Response = R>,
    F::Future: Future<Output = Result<R, F::Error>>,
    F::Error: Into<Diagnostic> + Debug,
    A: for<'de> Deserialize<'de>,
    R: IntoFunctionResponse<B, S>,
    B: Serialize,
    S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send,
    E: Into<lambda_runtime::Error> + Send + Debug,
{
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let runtime = Runtime::new(handler).layer(TracingLayer::new());
    match emf_collector(&function) {
        Some(collector) => runtime.layer(MetricsLayer::new(collector)).run().await,
        None => runtime.run().await,
    }
}

/// The Prometheus recorder of this process, installed on first use; its handle renders
/// `GET /metrics`.
pub fn prometheus() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Milliseconds: a booking's Redis call is about 1 ms, a broker publish a few.
            let buckets = [
                0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_ms".into()), &buckets)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| e.to_string())?;
            describe();
            Ok(handle)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_a_bounded_reason() {
        let cases = [
            ("fully_booked", "fully_booked"),
            ("already_booked", "already_booked"),
            ("station_not_found", "not_found"),
            ("date_not_found", "not_found"),
            ("invalid_field", "invalid"),
            ("malformed_json", "invalid"),
            ("payload_too_large", "invalid"),
            ("unsupported_media_type", "invalid"),
            ("method_not_allowed", "invalid"),
            ("store_unavailable", "store_error"),
            ("internal_error", "store_error"),
        ];
        for (code, reason) in cases {
            assert_eq!(
                RejectReason::from_error_code(code).as_str(),
                reason,
                "{code}"
            );
        }
    }
}
