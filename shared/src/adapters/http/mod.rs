//! HTTP entry points shared by every function (and any single-process server): request parsing,
//! the error-to-status mapping and the JSON error body of the API contract.
mod conditional;
mod docs;
mod error;
mod fallback;
mod handlers;
mod in_flight;
pub mod openapi;
pub mod operator;
mod page;
mod queue;
mod request;
mod router;
pub mod server;

pub use docs::{api_docs, docs_page, openapi_json};
pub use error::ApiError;
pub use fallback::unrouted;
pub use handlers::{
    Health, cancel_booking, create_booking, get_booking, get_station, healthz, list_stations,
    station_reads,
};
pub use in_flight::{InFlightLimit, RETRY_AFTER_SECONDS};
pub use queue::{
    ADMISSION_TOKEN_HEADER, create_admitted_booking, join_queue, queue_progress, queue_status,
    queue_ticket_status,
};
pub use request::{MAX_BODY_BYTES, path_value};
pub use router::Api;

use std::future::Future;

use lambda_http::{Body, Error, Request, Response, service_fn};

/// Runs an HTTP handler as the Lambda function's event loop, flushing its metrics after each
/// invocation. Handlers turn every failure into a
/// response with the JSON error body, so the runtime never reports an invocation error.
pub async fn serve<'a, H, F>(handler: H) -> Result<(), Error>
where
    H: Fn(Request) -> F,
    F: Future<Output = Response<Body>> + Send + 'a,
{
    crate::telemetry::run(lambda_http::Adapter::from(service_fn(|request| {
        let response = handler(request);
        async move { Ok::<_, Error>(response.await) }
    })))
    .await
}
