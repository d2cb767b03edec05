//! The operator port of `local-api`: `GET /metrics` in the Prometheus text format, on a
//! listener of its own (127.0.0.1 by default), so the public port never shows it. In Lambda the
//! same metrics go to CloudWatch instead.
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_http::http::{HeaderValue, Method, Request, Response, header};
use tokio::net::TcpListener;

use super::ApiError;

/// A scraper sends a short GET: anything slower is not one.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` with what `render` says (the Prometheus text of the process's
/// recorder) until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    render: impl Fn() -> String + Clone + Send + 'static,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "metrics port: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let render = render.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let response = metrics_response(&render, request.method(), request.uri().path());
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "metrics connection ended with an error");
            }
        });
    }
}

fn metrics_response(
    render: &impl Fn() -> String,
    method: &Method,
    path: &str,
) -> Response<Full<Bytes>> {
    let error = match (path, method) {
        ("/metrics", &Method::GET) => {
            let mut response = Response::new(Full::new(Bytes::from(render())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return response;
        }
        ("/metrics", _) => ApiError::method_not_allowed("GET"),
        _ => ApiError::route_not_found(),
    };
    error.into_response().map(|body| match body {
        lambda_http::Body::Text(text) => Full::new(Bytes::from(text)),
        _ => Full::new(Bytes::new()),
    })
}
