//! The HTTP API: request parsing, the handlers every HTTP function (and local-api) runs over
//! the use cases, the error-to-status mapping and the JSON error body of the contract, the
//! OpenAPI document and the pages. Generic over the ports, so no backend is linked here.
#[cfg(feature = "server")]
mod client_rate;
mod conditional;
mod docs;
mod error;
mod fallback;
mod handlers;
pub mod identity;
mod in_flight;
pub mod locale;
pub mod openapi;
#[cfg(feature = "server")]
pub mod operator;
mod page;
mod queue;
mod request;
mod router;
pub mod security;
#[cfg(feature = "server")]
pub mod server;
pub mod server_settings;
mod slip;
mod verification;
#[cfg(feature = "server")]
mod write_deadline;

pub use docs::{api_docs, docs_page, openapi_json};
pub use error::ApiError;
pub use fallback::unrouted;
pub use handlers::{
    Health, cancel_booking, create_booking, get_booking, get_station, healthz, list_stations,
    move_booking, station_reads,
};
pub use identity::IDENTITY_TOKEN_HEADER;
pub use in_flight::{InFlightLimit, RETRY_AFTER_SECONDS};
pub use queue::{
    ADMISSION_TOKEN_HEADER, create_admitted_booking, join_queue, queue_progress, queue_status,
    queue_ticket_status,
};
pub use request::{MAX_BODY_BYTES, path_value};
pub use router::Api;
pub use slip::{SLIP_STYLE, booking_calendar, booking_slip, qr_svg};
pub use verification::{confirm_verification, request_verification, verification};

/// Runs an HTTP handler as the Lambda function's event loop, flushing its metrics after each
/// invocation. Handlers turn every failure into a response with the JSON error body, so the
/// runtime never reports an invocation error.
pub async fn serve<'a, H, F>(handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(lambda_http::Request) -> F,
    F: std::future::Future<Output = lambda_http::Response<lambda_http::Body>> + Send + 'a,
{
    booking_runtime::run(lambda_http::Adapter::from(lambda_http::service_fn(
        |request| {
            let response = handler(request);
            async move {
                let mut response = response.await;
                security::add_security_headers(response.headers_mut());
                Ok::<_, lambda_http::Error>(response)
            }
        },
    )))
    .await
}
