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

use super::{Api, ApiError, MAX_BODY_BYTES};
use crate::ports::{EventPublisher, Outbox, SlotStore};

/// Reading stops here, whatever the handler would say: a client cannot make the server buffer
/// an unbounded body. Above the handlers' own 16 KiB limit, so they still answer that case.
pub const MAX_READ_BYTES: usize = 1024 * 1024;
/// A client that never finishes its headers is dropped (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may take to finish once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then stops accepting and lets open requests finish.
pub async fn serve<S, O, P>(
    listener: TcpListener,
    api: Api<S, O, P>,
    shutdown: impl Future<Output = ()>,
) where
    S: SlotStore + 'static,
    O: Outbox + 'static,
    P: EventPublisher + 'static,
{
    let api = Arc::new(api);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
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
        let service = service_fn(move |request| {
            let api = Arc::clone(&api);
            async move { Ok::<_, Infallible>(respond(&api, request).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
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

async fn respond<S: SlotStore, O: Outbox, P: EventPublisher>(
    api: &Api<S, O, P>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, MAX_READ_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
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
