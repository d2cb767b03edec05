use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use super::ApiError;
use super::conditional::snapshot_response;
use super::identity::authorize;
use super::request::{
    bearer_reference, idempotency_key, json_object, path_value, require_method, string_fields,
};
use booking_core::booking::{BookingConfirmed, BookingLookup, BookingService};
use booking_core::domain::{
    BookedSlot, Booking, BookingReference, BookingRequest, Location, MySejahteraId,
};
use booking_core::ports::{BookingStore, EventPublisher, HealthCheck, Outbox, StationReads};
use booking_core::pseudonym;
use booking_core::service_metrics;
use booking_core::station::StationService;

#[allow(unused_imports)] // Named only inside the #[utoipa::path] attributes.
use super::openapi::{
    BookingConfirmationSchema, BookingMoveSchema, BookingSchema, ErrorSchema, HealthSchema,
    IdempotencyKeySchema, LocationSchema, MySejahteraIdSchema, StationListSchema,
    StationSlotsSchema,
};

pub(super) fn json_response(
    status: StatusCode,
    body: &(impl Serialize + ?Sized),
) -> Response<Body> {
    let body = serde_json::to_string(body).expect("responses are plain data");
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Personal data: no cache between the person and the store may keep a copy.
pub(super) fn private_json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let mut response = json_response(status, body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The ID in `/booking/{mysejahteraId}`, checked before any key is built from it, and the
/// booking reference the caller shows for it.
fn booking_id(
    request: &Request,
    method: &'static str,
) -> Result<(MySejahteraId, BookingReference), ApiError> {
    require_method(request, method)?;
    let id = MySejahteraId::parse(&path_value(request, MySejahteraId::FIELD, "booking")?)?;
    Ok((id, bearer_reference(request)?))
}

/// A booking answer to `POST /booking`: the booking, and its reference for the booker when
/// there is one to show.
#[derive(Serialize)]
struct BookingConfirmation<'a> {
    #[serde(flatten)]
    booking: &'a Booking,
    #[serde(rename = "bookingReference", skip_serializing_if = "Option::is_none")]
    booking_reference: Option<&'a str>,
}

/// The slots left at a station, per date.
///
/// Every date of the station in calendar order with its remaining slots. Answers may be at
/// most a second old; `Cache-Control` says how much of that second is left. Send the `ETag`
/// back as `If-None-Match` to get 304 while nothing changed.
#[utoipa::path(
    get,
    path = "/stations/{location}",
    tag = "stations",
    operation_id = "getStation",
    params(
        ("location" = LocationSchema, Path, description = "The station's code"),
        ("If-None-Match" = Option<String>, Header, description = "ETags the client holds, or `*`"),
    ),
    responses(
        (status = 200, description = "The station's dates, sorted", body = StationSlotsSchema,
            headers(("ETag" = String, description = "Strong tag of this body"),
                ("Cache-Control" = String, description = "`public, max-age=N, stale-while-revalidate=1`: N is the whole seconds left of the answer's one second of freshness, usually 0"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag; no body",
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 400, description = "`invalid_field`: the location is not a station code",
            body = ErrorSchema, example = json!({"error": "invalid_field", "message": "location may contain only letters A-Z, digits, '-' and '_'", "field": "location"})),
        (status = 404, description = "`station_not_found`", body = ErrorSchema,
            example = json!({"error": "station_not_found", "message": "No station is called NOPE."})),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema,
            example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn get_station<S: StationReads>(
    service: &StationService<S>,
    request: Request,
) -> Response<Body> {
    let result = async {
        require_method(&request, "GET")?;
        let location = Location::parse(&path_value(&request, "location", "stations")?)?;
        Ok::<_, ApiError>(service.slots(&location).await?)
    }
    .await;
    match result {
        Ok(slots) => snapshot_response(&request, &slots),
        Err(error) => error.into_response(),
    }
}

/// Every station with its dates.
///
/// Every station that has dates, sorted by location, each with its `name` and `address` where
/// the seed gave them, and its dates in calendar order with the slots left on each. Cached and
/// revalidated like a single station.
#[utoipa::path(
    get,
    path = "/stations",
    tag = "stations",
    operation_id = "listStations",
    params(("If-None-Match" = Option<String>, Header, description = "ETags the client holds, or `*`")),
    responses(
        (status = 200, description = "Every station, sorted", body = StationListSchema,
            headers(("ETag" = String, description = "Strong tag of this body"),
                ("Cache-Control" = String, description = "`public, max-age=N, stale-while-revalidate=1`: N is the whole seconds left of the answer's one second of freshness, usually 0"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag; no body",
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema,
            example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn list_stations<S: StationReads>(
    service: &StationService<S>,
    request: Request,
) -> Response<Body> {
    let result = async {
        require_method(&request, "GET")?;
        Ok::<_, ApiError>(service.all().await?)
    }
    .await;
    match result {
        Ok(stations) => snapshot_response(&request, &stations),
        Err(error) => error.into_response(),
    }
}

/// Both station routes, for the one function that serves them: `/stations` lists, and
/// `/stations/{location}` shows one (also a station called `stations`).
pub async fn station_reads<S: StationReads>(
    service: &StationService<S>,
    request: Request,
) -> Response<Body> {
    let has_location = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first("location"))
        .is_some();
    let path = crate::request::route_path(&request);
    let mut segments = path.strip_suffix('/').unwrap_or(path).rsplit('/');
    let is_list = segments.next() == Some("stations") && segments.next() != Some("stations");
    if is_list && !has_location {
        list_stations(service, request).await
    } else {
        get_station(service, request).await
    }
}

/// Book a slot.
///
/// 201 with the stored booking and its `bookingReference`, the secret that reads and cancels it:
/// keep it. 200 with the same booking when the identical request is repeated (a safe retry);
/// the 200 carries the same `bookingReference` only when it comes within 15 minutes of the
/// booking with the booking's `Idempotency-Key`: make one random key per booking attempt and
/// send it again with that attempt's retries. One booking per person. Unknown fields are
/// refused, naming the field.
#[utoipa::path(
    post,
    path = "/booking",
    tag = "bookings",
    operation_id = "createBooking",
    params(
        ("Admission-Token" = Option<String>, Header, description = "Required while the waiting room is on: the token `GET /queue/{ticket}` gave this person"),
        ("Idempotency-Key" = Option<IdempotencyKeySchema>, Header, description = "A random value the client makes for this booking attempt (a UUID, or 32 hex digits) and sends again with the attempt's retries: only a retry with it is shown the `bookingReference` again"),
    ),
    request_body(content = BookingSchema, content_type = "application/json",
        description = "At most 16 KiB", example = json!({"mysejahteraId": "900127015527", "firstName": "Fadhil", "lastName": "Yaacob", "address": "Kuala Lumpur", "location": "PWTC", "phoneNumber": "0123456789", "date": "20210516"})),
    responses(
        (status = 201, description = "Booked; `bookingReference` is shown this once (and to a retry with the same `Idempotency-Key` within 15 minutes)",
            body = BookingConfirmationSchema,
            headers(("Location" = String, description = "Where the booking can be read and cancelled")),
            links(
                ("GetBookingWithReference" = (operation_id = "getBooking",
                    parameters(("path.mysejahteraId" = "$response.body#/mysejahteraId"),
                        ("header.Authorization" = "Bearer {$response.body#/bookingReference}")),
                    description = "Read the booking with its reference")),
                ("MoveBookingWithReference" = (operation_id = "moveBooking",
                    parameters(("path.mysejahteraId" = "$response.body#/mysejahteraId"),
                        ("header.Authorization" = "Bearer {$response.body#/bookingReference}")),
                    description = "Move the booking to another slot with its reference")),
                ("CancelBookingWithReference" = (operation_id = "cancelBooking",
                    parameters(("path.mysejahteraId" = "$response.body#/mysejahteraId"),
                        ("header.Authorization" = "Bearer {$response.body#/bookingReference}")),
                    description = "Cancel the booking with its reference")),
            )),
        (status = 200, description = "The identical booking was already held; nothing changed. \
            `bookingReference` only with the booking's `Idempotency-Key` and within 15 minutes of the booking",
            body = BookingConfirmationSchema, headers(("Location" = String, description = "Where the booking can be read and cancelled"))),
        (status = 400, description = "`malformed_json`, or `invalid_field` naming the field (also a field sent twice), or `Idempotency-Key` when it is not 1-255 printable ASCII characters or sent twice",
            body = ErrorSchema, example = json!({"error": "invalid_field", "message": "date must be a calendar date written YYYYMMDD", "field": "date"})),
        (status = 403, description = "`not_admitted`: the waiting room is on and the `Admission-Token` header is missing, expired or another person's",
            body = ErrorSchema, example = json!({"error": "not_admitted", "message": "The Admission-Token has expired; fetch a new one with your ticket (GET /queue/{ticket})."})),
        (status = 404, description = "`station_not_found` or `date_not_found`", body = ErrorSchema,
            example = json!({"error": "date_not_found", "message": "The station has no slots on 20210517."})),
        (status = 409, description = "`already_booked` (another booking is held), `fully_booked`, or \
            `booking_in_progress` (another request of this person, for another booking, is being decided: retry after `Retry-After` seconds)",
            body = ErrorSchema, headers(("Retry-After" = u32, description = "With `booking_in_progress`: seconds to wait before retrying")), example = json!({"error": "fully_booked", "message": "No slots are left at this station on this date."})),
        (status = 413, description = "`payload_too_large`: over 16 KiB", body = ErrorSchema,
            example = json!({"error": "payload_too_large", "message": "The body must be at most 16384 bytes."})),
        (status = 415, description = "`unsupported_media_type`: no Content-Type, or not application/json", body = ErrorSchema,
            example = json!({"error": "unsupported_media_type", "message": "Send the body as application/json."})),
        (status = 503, description = "`store_unavailable`: nothing is confirmed; repeating the identical request is safe",
            body = ErrorSchema, example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn create_booking<S: BookingStore, O: Outbox, P: EventPublisher>(
    service: &BookingService<S, O, P>,
    request: Request,
) -> Response<Body> {
    let result = async {
        require_method(&request, "POST")?;
        let retry_key = idempotency_key(&request)?;
        let [mysejahtera_id, first_name, last_name, address, location, phone_number, date] =
            string_fields(json_object(&request)?, BookingRequest::FIELDS)?;
        let booking = Booking::parse(&BookingRequest {
            mysejahtera_id,
            first_name,
            last_name,
            address,
            location,
            phone_number,
            date,
        })?;
        // After the body is valid, before anything reads the person's booking.
        authorize(service.identity(), &request, &booking.mysejahtera_id)?;
        let (location, date) = (booking.location.clone(), booking.date);
        let person = pseudonym::person(&booking.mysejahtera_id);
        let result = service.book(booking, retry_key.as_ref()).await;
        // A pseudonym, location and date only: personal data never goes to the logs.
        match &result {
            Ok(confirmed) => tracing::info!(%person, %location, %date, newly_created = confirmed.newly_created, "booking confirmed"),
            Err(error) => tracing::info!(%person, %location, %date, %error, "booking refused"),
        }
        Ok::<_, ApiError>(result?)
    }
    .await;
    observe_booking(&result);
    match result {
        Ok(confirmed) => {
            let status = if confirmed.newly_created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = BookingConfirmation {
                booking: &confirmed.booking,
                booking_reference: confirmed.reference.as_ref().map(BookingReference::expose),
            };
            let mut response = private_json_response(status, &body);
            let location = format!("/booking/{}", confirmed.booking.mysejahtera_id.as_str());
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Err(error) => error.into_response(),
    }
}

/// Look a booking up.
///
/// Only with the booking's reference (`Authorization: Bearer <bookingReference>`). A reference
/// that is not this ID's current booking's, and no booking at all, get the same 404.
#[utoipa::path(
    get,
    path = "/booking/{mysejahteraId}",
    tag = "bookings",
    operation_id = "getBooking",
    params(("mysejahteraId" = MySejahteraIdSchema, Path, description = "The person's MySejahtera ID")),
    security(("bookingReference" = [])),
    responses(
        (status = 200, description = "The person's booking", body = BookingSchema),
        (status = 400, description = "`invalid_field`: not a MyKad number or passport ID", body = ErrorSchema,
            example = json!({"error": "invalid_field", "message": "mysejahteraId must have as digits 7-8 a birthplace code the National Registration Department issues", "field": "mysejahteraId"})),
        (status = 401, description = "`unauthorized`: no `Authorization: Bearer <bookingReference>`, or not a booking reference",
            body = ErrorSchema, headers(("WWW-Authenticate" = String, description = "Bearer")),
            example = json!({"error": "unauthorized", "message": "Send the booking reference from the booking's confirmation as `Authorization: Bearer <bookingReference>`."})),
        (status = 404, description = "`booking_not_found`: no booking, or not its reference", body = ErrorSchema,
            example = json!({"error": "booking_not_found", "message": "No booking matches this ID and booking reference."})),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema,
            example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn get_booking<S: BookingStore>(
    service: &BookingLookup<S>,
    request: Request,
) -> Response<Body> {
    let result = async {
        let (id, reference) = booking_id(&request, "GET")?;
        authorize(service.identity(), &request, &id)?;
        Ok::<_, ApiError>(service.find(&id, &reference).await?)
    }
    .await;
    match result {
        Ok(booking) => private_json_response(StatusCode::OK, &booking),
        Err(error) => error.into_response(),
    }
}

/// Cancel a booking.
///
/// Removes the booking and frees its slot, with the booking's reference
/// (`Authorization: Bearer <bookingReference>`); 200 with what was cancelled, 404 when there was
/// nothing or the reference is not this booking's (so a repeated cancel is 404, and the old
/// reference is dead). The person may book again afterwards, and gets a new reference.
#[utoipa::path(
    delete,
    path = "/booking/{mysejahteraId}",
    tag = "bookings",
    operation_id = "cancelBooking",
    params(("mysejahteraId" = MySejahteraIdSchema, Path, description = "The person's MySejahtera ID")),
    security(("bookingReference" = [])),
    responses(
        (status = 200, description = "The cancelled booking", body = BookingSchema),
        (status = 400, description = "`invalid_field`: not a MyKad number or passport ID", body = ErrorSchema,
            example = json!({"error": "invalid_field", "message": "mysejahteraId must start with the birth date YYMMDD (a MyKad number's first six digits)", "field": "mysejahteraId"})),
        (status = 401, description = "`unauthorized`: no `Authorization: Bearer <bookingReference>`, or not a booking reference",
            body = ErrorSchema, headers(("WWW-Authenticate" = String, description = "Bearer")),
            example = json!({"error": "unauthorized", "message": "Send the booking reference from the booking's confirmation as `Authorization: Bearer <bookingReference>`."})),
        (status = 404, description = "`booking_not_found`: no booking (also a second cancel), or not its reference", body = ErrorSchema,
            example = json!({"error": "booking_not_found", "message": "No booking matches this ID and booking reference."})),
        (status = 503, description = "`store_unavailable`: the cancel may or may not have happened; repeating it is safe",
            body = ErrorSchema, example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn cancel_booking<S: BookingStore, O: Outbox, P: EventPublisher>(
    service: &BookingService<S, O, P>,
    request: Request,
) -> Response<Body> {
    let result = async {
        let (id, reference) = booking_id(&request, "DELETE")?;
        authorize(service.identity(), &request, &id)?;
        let cancelled = service.cancel(&id, &reference).await?;
        // A pseudonym, location and date only: personal data never goes to the logs.
        tracing::info!(person = %pseudonym::person(&id), location = %cancelled.location, date = %cancelled.date, "booking cancelled");
        service_metrics::booking_cancelled();
        Ok::<_, ApiError>(cancelled)
    }
    .await;
    match result {
        Ok(booking) => private_json_response(StatusCode::OK, &booking),
        Err(error) => error.into_response(),
    }
}

/// Move a booking to another slot.
///
/// With the booking's reference (`Authorization: Bearer <bookingReference>`): takes a slot at
/// the station and date asked and frees the old one in one step, or changes nothing. 200 with
/// the booking as it is now; the reference stays valid. A booking already at that slot is
/// answered as it is (no event), so repeating a move is safe.
#[utoipa::path(
    patch,
    path = "/booking/{mysejahteraId}",
    tag = "bookings",
    operation_id = "moveBooking",
    params(("mysejahteraId" = MySejahteraIdSchema, Path, description = "The person's MySejahtera ID")),
    security(("bookingReference" = [])),
    request_body(content = BookingMoveSchema, content_type = "application/json",
        description = "At most 16 KiB", example = json!({"location": "UM", "date": "20210520"})),
    responses(
        (status = 200, description = "The booking at its new slot (or at the slot it held already)", body = BookingSchema),
        (status = 400, description = "`malformed_json`, or `invalid_field` naming the field (the ID, `location`, `date`, an unknown or repeated field)",
            body = ErrorSchema, example = json!({"error": "invalid_field", "message": "date must be a calendar date written YYYYMMDD", "field": "date"})),
        (status = 401, description = "`unauthorized`: no `Authorization: Bearer <bookingReference>`, or not a booking reference",
            body = ErrorSchema, headers(("WWW-Authenticate" = String, description = "Bearer")),
            example = json!({"error": "unauthorized", "message": "Send the booking reference from the booking's confirmation as `Authorization: Bearer <bookingReference>`."})),
        (status = 404, description = "`booking_not_found` (no booking, or not its reference), `station_not_found` or `date_not_found`: nothing changed", body = ErrorSchema,
            example = json!({"error": "booking_not_found", "message": "No booking matches this ID and booking reference."})),
        (status = 409, description = "`fully_booked`: no slot left there, the booking is unchanged; or `booking_in_progress` (retry after `Retry-After` seconds)",
            body = ErrorSchema, headers(("Retry-After" = u32, description = "With `booking_in_progress`: seconds to wait before retrying")),
            example = json!({"error": "fully_booked", "message": "No slots are left at this station on this date."})),
        (status = 413, description = "`payload_too_large`: over 16 KiB", body = ErrorSchema,
            example = json!({"error": "payload_too_large", "message": "The body must be at most 16384 bytes."})),
        (status = 415, description = "`unsupported_media_type`: no Content-Type, or not application/json", body = ErrorSchema,
            example = json!({"error": "unsupported_media_type", "message": "Send the body as application/json."})),
        (status = 503, description = "`store_unavailable`: the move may or may not have happened; repeating it is safe (a booking already moved answers 200)",
            body = ErrorSchema, example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn move_booking<S: BookingStore, O: Outbox, P: EventPublisher>(
    service: &BookingService<S, O, P>,
    request: Request,
) -> Response<Body> {
    let result = async {
        let (id, reference) = booking_id(&request, "PATCH")?;
        let [location, date] = string_fields(json_object(&request)?, BookedSlot::FIELDS)?;
        let to = BookedSlot::parse(&location, &date)?;
        authorize(service.identity(), &request, &id)?;
        let person = pseudonym::person(&id);
        let result = service.reschedule(&id, &reference, &to).await;
        // A pseudonym, location and date only: personal data never goes to the logs.
        match &result {
            Ok(rescheduled) => {
                tracing::info!(%person, location = %to.location, date = %to.date, moved = rescheduled.moved, "booking moved");
                if rescheduled.moved {
                    service_metrics::booking_rescheduled();
                }
            }
            Err(error) => tracing::info!(%person, location = %to.location, date = %to.date, %error, "move refused"),
        }
        Ok::<_, ApiError>(result?.booking)
    }
    .await;
    match result {
        Ok(booking) => private_json_response(StatusCode::OK, &booking),
        Err(error) => error.into_response(),
    }
}

/// The body of a healthy `GET /healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
}

/// Health check.
///
/// 200 when the store answers PING, 503 otherwise, so a load balancer takes an instance out
/// while its Redis is unreachable.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses(
        (status = 200, description = "The store answers", body = HealthSchema, example = json!({"status": "ok"})),
        (status = 503, description = "`store_unavailable`", body = ErrorSchema,
            example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn healthz<S: HealthCheck>(store: &S, request: Request) -> Response<Body> {
    let result = async {
        require_method(&request, "GET")?;
        Ok::<_, ApiError>(store.ping().await?)
    }
    .await;
    match result {
        Ok(()) => private_json_response(StatusCode::OK, &Health { status: "ok" }),
        Err(error) => error.into_response(),
    }
}

/// Counts one booking request by its outcome: created, repeated, or rejected and why.
fn observe_booking(result: &Result<BookingConfirmed, ApiError>) {
    match result {
        Ok(confirmed) => service_metrics::booking_created(confirmed.newly_created),
        Err(error) => service_metrics::booking_rejected(
            service_metrics::RejectReason::from_error_code(error.code),
        ),
    }
}
