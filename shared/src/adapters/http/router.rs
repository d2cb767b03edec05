//! Every HTTP endpoint behind one entry point, for a single process that serves the whole API
//! (`local-api`: load tests, container hosting, the fuzz step). It routes by method and path to
//! the very handlers the Lambda functions run; API Gateway does this routing when deployed.
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::ApiError;
use super::docs::api_docs;
use super::handlers::{cancel_booking, create_booking, get_booking, get_station, healthz};
use crate::booking::BookingService;
use crate::ports::SlotStore;
use crate::station::StationService;

pub struct Api<S> {
    stations: StationService<S>,
    bookings: BookingService<S>,
}

impl<S: SlotStore> Api<S> {
    pub fn new(stations: StationService<S>, bookings: BookingService<S>) -> Self {
        Self { stations, bookings }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let path = request.uri().path();
        let mut segments: Vec<&str> = path.split('/').skip(1).collect();
        // `/booking/X/` is `/booking/X`, but `/booking/` stays an empty ID (404), not `/booking`.
        if segments.len() > 2 && segments.last() == Some(&"") {
            segments.pop();
        }
        match segments.as_slice() {
            ["stations", _] => get_station(&self.stations, request).await,
            ["booking"] => create_booking(&self.bookings, request).await,
            ["booking", _] => match *request.method() {
                Method::GET => get_booking(&self.bookings, request).await,
                Method::DELETE => cancel_booking(&self.bookings, request).await,
                _ => ApiError::method_not_allowed("GET, DELETE").into_response(),
            },
            ["healthz"] => healthz(self.bookings.store(), request).await,
            ["openapi.json"] | ["docs"] => api_docs(request).await,
            _ => ApiError::route_not_found().into_response(),
        }
    }
}
