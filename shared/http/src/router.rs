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
    cancel_booking, get_booking, get_station, healthz, list_stations, move_booking,
};
use super::in_flight::{InFlightLimit, too_many_requests};
use super::queue::{create_admitted_booking, join_queue, queue_progress, queue_ticket_status};
use super::verification::{confirm_verification, request_verification};
use booking_core::booking::{BookingLookup, BookingService, PublishSettings};
use booking_core::ownership::BookingReferences;
use booking_core::ports::{EventPublisher, Outbox};
use booking_core::verification::VerificationService;

/// What the one-port API needs of its store: every port an HTTP endpoint uses.
pub trait ApiStore: StationReads + BookingStore + HealthCheck {}
impl<S: StationReads + BookingStore + HealthCheck> ApiStore for S {}

use booking_core::check_in::CheckInKey;
use booking_core::ports::{BookingStore, HealthCheck, StationReads};
use booking_core::station::StationService;
use booking_core::waiting_room::{AdmissionGate, WaitingRoom};

use super::slip::{booking_calendar, booking_slip};

pub struct Api<S, O, P> {
    stations: StationService<S>,
    check_in: CheckInKey,
    lookup: BookingLookup<S>,
    bookings: BookingService<S, O, P>,
    room: Option<WaitingRoom>,
    /// Set while the waiting room is on: bookings then need an admission token.
    admission: Option<AdmissionGate>,
    in_flight: Option<InFlightLimit>,
    /// `POST /verification` and `/verification/confirm`, when served.
    verification: Option<VerificationService>,
}

impl<S: ApiStore + Clone, O: Outbox, P: EventPublisher> Api<S, O, P> {
    /// Every endpoint over the booking service's store.
    pub fn from_bookings(bookings: BookingService<S, O, P>, check_in: CheckInKey) -> Self {
        Self {
            check_in,
            stations: StationService::new(bookings.store().clone()),
            lookup: bookings.lookup(),
            bookings,
            room: None,
            admission: None,
            in_flight: None,
            verification: None,
        }
    }

    /// Every endpoint over one store (and the bookings' outbox and broker).
    pub fn new(
        store: S,
        outbox: O,
        publisher: P,
        settings: PublishSettings,
        references: BookingReferences,
        check_in: CheckInKey,
    ) -> Self {
        Self::from_bookings(
            BookingService::new(store, outbox, publisher, settings, references),
            check_in,
        )
    }

    /// Serves the waiting room's endpoints; with `room_on`, `POST /booking` needs an admission
    /// token from this room.
    #[must_use]
    pub fn with_waiting_room(mut self, room: WaitingRoom, room_on: bool) -> Self {
        self.admission = room_on.then(|| room.gate());
        self.room = Some(room);
        self
    }

    /// Serves `POST /verification` and `POST /verification/confirm` (one-time codes).
    #[must_use]
    pub fn with_verification(mut self, verification: VerificationService) -> Self {
        self.verification = Some(verification);
        self
    }

    /// At most `limit` requests in flight; past it, 429 at once.
    #[must_use]
    pub fn with_in_flight_limit(mut self, limit: usize) -> Self {
        self.in_flight = Some(InFlightLimit::new(limit));
        self
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

impl<S: ApiStore, O: Outbox, P: EventPublisher> Api<S, O, P> {
    /// The answer of the endpoint the request is for, with the headers every answer carries.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let mut response = self.route(request).await;
        crate::security::add_security_headers(response.headers_mut());
        response
    }

    async fn route(&self, request: Request) -> Response<Body> {
        let _in_flight = match self.in_flight.as_ref().map(InFlightLimit::try_acquire) {
            Some(None) => return too_many_requests(),
            place => place,
        };
        let path = request.uri().path();
        let mut segments: Vec<&str> = path.split('/').skip(1).collect();
        // `/booking/X/` is `/booking/X`, but `/booking/` stays an empty ID (404), not `/booking`.
        if segments.len() > 2 && segments.last() == Some(&"") {
            segments.pop();
        }
        match segments.as_slice() {
            ["stations"] => list_stations(&self.stations, request).await,
            ["stations", _] => get_station(&self.stations, request).await,
            ["booking"] => {
                create_admitted_booking(self.admission.as_ref(), &self.bookings, request).await
            }
            ["queue"] | ["queue", _] if self.room.is_none() => {
                ApiError::route_not_found().into_response()
            }
            ["queue"] => match (&self.room, request.method()) {
                (Some(room), &Method::POST) => join_queue(room, request).await,
                (Some(room), &Method::GET) => queue_progress(room, request).await,
                _ => ApiError::method_not_allowed("GET, POST").into_response(),
            },
            ["queue", _] => match &self.room {
                Some(room) => queue_ticket_status(room, request).await,
                None => ApiError::route_not_found().into_response(),
            },
            ["verification"] | ["verification", "confirm"] => {
                match (&self.verification, segments.as_slice()) {
                    (None, _) => ApiError::route_not_found().into_response(),
                    (Some(service), ["verification"]) => {
                        request_verification(service, request).await
                    }
                    (Some(service), _) => confirm_verification(service, request).await,
                }
            }
            ["booking", _, "slip"] => booking_slip(&self.lookup, &self.check_in, request).await,
            ["booking", _, "calendar"] => booking_calendar(&self.lookup, request).await,
            ["booking", _] => match *request.method() {
                Method::GET => get_booking(&self.lookup, request).await,
                Method::PATCH => move_booking(&self.bookings, request).await,
                Method::DELETE => cancel_booking(&self.bookings, request).await,
                _ => ApiError::method_not_allowed("GET, DELETE, PATCH").into_response(),
            },
            ["healthz"] => healthz(self.bookings.store(), request).await,
            ["openapi.json"] | ["docs"] | [""] => api_docs(request).await,
            // The same answer API Gateway's `$default` route gives.
            _ => unrouted(&request),
        }
    }
}
