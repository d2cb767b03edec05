//! Every HTTP endpoint behind one entry point, for a single process that serves the whole API
//! (`local-api`: load tests, container hosting, the fuzz step). It routes by method and path to
//! the very handlers the Lambda functions run; API Gateway does this routing when deployed.
use std::time::Duration;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::ApiError;
use super::docs::api_docs;
use super::fallback::unrouted;
use super::handlers::{
    cancel_booking, create_booking, get_booking, get_station, healthz, list_stations,
};
use crate::booking::{BookingLookup, BookingService, PublishSettings};
use crate::ownership::BookingReferences;
use crate::ports::{EventPublisher, Outbox, SlotStore};
use crate::station::StationService;

pub struct Api<S, O, P> {
    stations: StationService<S>,
    lookup: BookingLookup<S>,
    bookings: BookingService<S, O, P>,
}

impl<S: SlotStore + Clone, O: Outbox, P: EventPublisher> Api<S, O, P> {
    /// Every endpoint over one store (and the bookings' outbox and broker).
    pub fn new(
        store: S,
        outbox: O,
        publisher: P,
        settings: PublishSettings,
        references: BookingReferences,
    ) -> Self {
        Self {
            stations: StationService::new(store.clone()),
            lookup: BookingLookup::new(store.clone(), references.clone()),
            bookings: BookingService::new(store, outbox, publisher, settings, references),
        }
    }

    /// Station reads answered from memory for up to `max_age` (at most one second, as the API's
    /// `max-age=1` allows); bookings and booking look-ups always go to the store.
    pub fn with_station_cache(self, max_age: Duration) -> Self {
        Self {
            stations: StationService::cached(self.stations.store().clone(), max_age),
            ..self
        }
    }
}

impl<S: SlotStore, O: Outbox, P: EventPublisher> Api<S, O, P> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let path = request.uri().path();
        let mut segments: Vec<&str> = path.split('/').skip(1).collect();
        // `/booking/X/` is `/booking/X`, but `/booking/` stays an empty ID (404), not `/booking`.
        if segments.len() > 2 && segments.last() == Some(&"") {
            segments.pop();
        }
        match segments.as_slice() {
            ["stations"] => list_stations(&self.stations, request).await,
            ["stations", _] => get_station(&self.stations, request).await,
            ["booking"] => create_booking(&self.bookings, request).await,
            ["booking", _] => match *request.method() {
                Method::GET => get_booking(&self.lookup, request).await,
                Method::DELETE => cancel_booking(&self.bookings, request).await,
                _ => ApiError::method_not_allowed("GET, DELETE").into_response(),
            },
            ["healthz"] => healthz(self.bookings.store(), request).await,
            ["openapi.json"] | ["docs"] | [""] => api_docs(request).await,
            // The same answer API Gateway's `$default` route gives.
            _ => unrouted(&request),
        }
    }
}
