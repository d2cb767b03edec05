//! The recorder behind [`booking_core::service_metrics`] in Lambda: CloudWatch Embedded Metric
//! Format, one JSON document per label set on stdout, flushed after each invocation, which
//! CloudWatch turns into metrics without any API call on the request path. (`local-api` installs
//! a Prometheus recorder instead.) Recording is an atomic add or a bounded channel send, so it
//! cannot fail or slow a booking; without a recorder it does nothing.
use std::fmt::Debug;
use std::future::Future;
use std::sync::OnceLock;

use futures::Stream;
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Diagnostic, IntoFunctionResponse, LambdaEvent, Runtime, Service};
pub use metrics_cloudwatch_embedded::Collector;
use metrics_cloudwatch_embedded::lambda::MetricsLayer;
use serde::{Deserialize, Serialize};

use booking_core::service_metrics::{NAMESPACE, describe};

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
