//! A plain HTTP/1.1 server around [`Api`]: each request becomes the `lambda_http::Request` a
//! Lambda function would get, so the handlers run unchanged, with no emulation layer.
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use lambda_http::Body;
use lambda_http::http::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{Api, ApiError, MAX_BODY_BYTES};
use crate::client_rate::ClientLimit;
use crate::security::add_security_headers;
use crate::server_settings::ServerLimits;
use crate::write_deadline::WriteDeadline;
use booking_core::ports::{EventPublisher, Outbox};

use crate::router::ApiStore;

/// Reading stops here, whatever the handler would say: a client cannot make the server buffer
/// an unbounded body. Above the handlers' own 16 KiB limit, so they still answer that case.
pub const MAX_READ_BYTES: usize = 1024 * 1024;
/// How long in-flight requests may take to finish once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then stops accepting and lets open requests finish.
pub async fn serve<S, O, P>(
    listener: TcpListener,
    api: Api<S, O, P>,
    shutdown: impl Future<Output = ()>,
) where
    S: ApiStore + 'static,
    O: Outbox + 'static,
    P: EventPublisher + 'static,
{
    serve_with(listener, api, ServerLimits::default(), shutdown).await;
}

/// [`serve`] with the limits one client may hold: a connection that does not send its headers
/// within `request_timeout` is dropped (slowloris), a body not complete within as long again
/// gets 408, a connection whose answers are not read within `write_timeout` is closed, one IP
/// writes at most at `client_rate`, and at most `max_connections` are open at once.
pub async fn serve_with<S, O, P>(
    listener: TcpListener,
    api: Api<S, O, P>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: ApiStore + 'static,
    O: Outbox + 'static,
    P: EventPublisher + 'static,
{
    let api = Arc::new(api);
    let client_limit = ClientLimit::new(limits.client_rate).map(Arc::new);
    if let Some(limit) = &client_limit {
        tokio::spawn(forget_idle_clients(Arc::downgrade(limit)));
    }
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        // Accept only with a slot free: beyond the cap, clients wait in the kernel's backlog
        // (a queue, not a refusal) instead of costing this process a file and a task each.
        let slot = tokio::select! {
            slot = Arc::clone(&connections).acquire_owned() => {
                slot.expect("the semaphore is never closed")
            }
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let api = Arc::clone(&api);
        let client_limit = client_limit.clone();
        let body_timeout = limits.request_timeout;
        let service = service_fn(move |request: Request<Incoming>| {
            let api = Arc::clone(&api);
            let refused = client_limit.as_ref().and_then(|limit| {
                let client = limit.client(peer.ip(), request.headers());
                limit.check(request.method(), client)
            });
            async move {
                Ok::<_, Infallible>(match refused {
                    Some(mut refused) => {
                        add_security_headers(refused.headers_mut());
                        into_hyper(refused)
                    }
                    None => respond(&api, request, body_timeout).await,
                })
            }
        });
        // Also covers a kept-alive connection waiting for its next request: an idle client
        // gives its slot back after the timeout.
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.request_timeout)
            .serve_connection(
                TokioIo::new(WriteDeadline::new(stream, limits.write_timeout)),
                service,
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    tracing::info!("shutting down: draining open requests");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still open after the drain timeout");
    }
}

/// Every minute, as long as the server runs: the limiter's memory stays with recent writers.
async fn forget_idle_clients(limit: std::sync::Weak<ClientLimit>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        match limit.upgrade() {
            Some(limit) => limit.forget_idle(),
            None => return,
        }
    }
}

async fn respond<S: ApiStore, O: Outbox, P: EventPublisher>(
    api: &Api<S, O, P>,
    request: Request<Incoming>,
    body_timeout: Duration,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(body_timeout, Limited::new(body, MAX_READ_BYTES).collect());
    let bytes = match read.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Err(_) => return request_timeout(body_timeout),
        Ok(Err(_)) => {
            let error = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("The body must be at most {MAX_BODY_BYTES} bytes."),
            );
            return into_hyper(error.into_response());
        }
    };
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes.to_vec())
    };
    into_hyper(api.handle(Request::from_parts(parts, body)).await)
}

/// A body that trickles in is cut off: the request is not handled, and the connection closes
/// (its unread rest would otherwise be taken for the next request).
fn request_timeout(limit: Duration) -> Response<Full<Bytes>> {
    let error = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "The request body did not arrive within {} s; nothing was done.",
            limit.as_secs()
        ),
    );
    let mut response = into_hyper(error.into_response());
    response.headers_mut().insert(
        lambda_http::http::header::CONNECTION,
        lambda_http::http::HeaderValue::from_static("close"),
    );
    response
}

fn into_hyper(response: Response<Body>) -> Response<Full<Bytes>> {
    response.map(|body| match body {
        Body::Empty => Full::new(Bytes::new()),
        Body::Text(text) => Full::new(Bytes::from(text)),
        Body::Binary(bytes) => Full::new(Bytes::from(bytes)),
        _ => Full::new(Bytes::new()),
    })
}

/// Resolves on SIGTERM (container stop) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
