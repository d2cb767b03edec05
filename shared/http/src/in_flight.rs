//! A bound on requests in flight for a long-lived server (local-api): past it, 429
//! `too_many_requests` with `Retry-After` at once, instead of queueing in memory until clients
//! time out and retry on top (the retries are what sank the original site).
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

use super::ApiError;

/// Seconds a shed client is asked to wait: long enough to let the burst drain.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, Clone)]
pub struct InFlightLimit {
    max: usize,
    current: Arc<AtomicUsize>,
}

/// Counts one request as in flight until dropped.
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InFlightLimit {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A place for one request, or None when `max` are already in flight.
    pub fn try_acquire(&self) -> Option<InFlight> {
        self.current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight(Arc::clone(&self.current)))
    }
}

pub fn too_many_requests() -> Response<Body> {
    booking_core::service_metrics::request_shed();
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "The service is at capacity; retry after the Retry-After seconds.",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_and_given_back() {
        let limit = InFlightLimit::new(2);
        let first = limit.try_acquire().expect("room for one");
        let second = limit.try_acquire().expect("room for two");
        assert!(limit.try_acquire().is_none(), "a third is shed");
        drop(first);
        let third = limit.try_acquire().expect("a freed place is reused");
        assert!(limit.try_acquire().is_none());
        drop((second, third));
        assert!(limit.try_acquire().is_some());
    }
}
