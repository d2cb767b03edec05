use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::ApiError;
use super::request::{json_object, path_value, require_method, string_fields};
use crate::booking::{BookingLookup, BookingService};
use crate::domain::{Booking, BookingRequest, Location, MySejahteraId};
use crate::ports::{EventPublisher, Outbox, SlotStore};
use crate::station::StationService;
use crate::telemetry;

#[allow(unused_imports)] // Named only inside the #[utoipa::path] attributes.
use super::openapi::{
    BookingSchema, ErrorSchema, HealthSchema, LocationSchema, MySejahteraIdSchema,
    StationSlotsSchema,
};

fn json_response(status: StatusCode, body: &(impl Serialize + ?Sized)) -> Response<Body> {
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
fn private_json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let mut response = json_response(status, body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The ID in `/booking/{mysejahteraId}`, checked before any key is built from it.
fn booking_id(request: &Request, method: &'static str) -> Result<MySejahteraId, ApiError> {
    require_method(request, method)?;
    Ok(MySejahteraId::parse(&path_value(
        request,
        MySejahteraId::FIELD,
        "booking",
    )?)?)
}

/// The slots left at a station, per date.
///
/// Every date of the station in calendar order with its remaining slots. Clients and CDNs may
/// reuse an answer for one second.
#[utoipa::path(
    get,
    path = "/stations/{location}",
    tag = "stations",
    operation_id = "getStation",
    params(("location" = LocationSchema, Path, description = "The station's code")),
    responses(
        (status = 200, description = "The station's dates, sorted", body = StationSlotsSchema,
            headers(("Cache-Control" = String, description = "public, max-age=1"))),
        (status = 400, description = "`invalid_field`: the location is not a station code",
            body = ErrorSchema, example = json!({"error": "invalid_field", "message": "location may contain only letters A-Z, digits, '-' and '_'", "field": "location"})),
        (status = 404, description = "`station_not_found`", body = ErrorSchema,
            example = json!({"error": "station_not_found", "message": "No station is called NOPE."})),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema,
            example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn get_station<S: SlotStore>(
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
        Ok(slots) => {
            let mut response = json_response(StatusCode::OK, &*slots);
            // The API promises clients and CDNs may reuse an answer for one second.
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=1"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

/// Book a slot.
///
/// 201 with the stored booking; 200 with the same booking when the identical request is
/// repeated (a safe retry). One booking per person. Unknown fields are refused, naming the field.
#[utoipa::path(
    post,
    path = "/booking",
    tag = "bookings",
    operation_id = "createBooking",
    request_body(content = BookingSchema, content_type = "application/json",
        description = "At most 16 KiB", example = json!({"mysejahteraId": "900127015527", "firstName": "Fadhil", "lastName": "Yaacob", "address": "Kuala Lumpur", "location": "PWTC", "phoneNumber": "0123456789", "date": "20210516"})),
    responses(
        (status = 201, description = "Booked", body = BookingSchema,
            headers(("Location" = String, description = "Where the booking can be read and cancelled"))),
        (status = 200, description = "The identical booking was already held; nothing changed",
            body = BookingSchema, headers(("Location" = String, description = "Where the booking can be read and cancelled"))),
        (status = 400, description = "`malformed_json`, or `invalid_field` naming the field (also a field sent twice)",
            body = ErrorSchema, example = json!({"error": "invalid_field", "message": "date must be a calendar date written YYYYMMDD", "field": "date"})),
        (status = 404, description = "`station_not_found` or `date_not_found`", body = ErrorSchema,
            example = json!({"error": "date_not_found", "message": "The station has no slots on 20210517."})),
        (status = 409, description = "`already_booked` (another booking is held) or `fully_booked`",
            body = ErrorSchema, example = json!({"error": "fully_booked", "message": "No slots are left at this station on this date."})),
        (status = 413, description = "`payload_too_large`: over 16 KiB", body = ErrorSchema,
            example = json!({"error": "payload_too_large", "message": "The body must be at most 16384 bytes."})),
        (status = 415, description = "`unsupported_media_type`: no Content-Type, or not application/json", body = ErrorSchema,
            example = json!({"error": "unsupported_media_type", "message": "Send the body as application/json."})),
        (status = 503, description = "`store_unavailable`: nothing is confirmed; repeating the identical request is safe",
            body = ErrorSchema, example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn create_booking<S: SlotStore, O: Outbox, P: EventPublisher>(
    service: &BookingService<S, O, P>,
    request: Request,
) -> Response<Body> {
    let result = async {
        require_method(&request, "POST")?;
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
        let (location, date) = (booking.location.clone(), booking.date);
        let person = telemetry::person(&booking.mysejahtera_id);
        let result = service.book(booking).await;
        // A pseudonym, location and date only: personal data never goes to the logs.
        match &result {
            Ok(confirmed) => tracing::info!(%person, %location, %date, newly_created = confirmed.newly_created, "booking confirmed"),
            Err(error) => tracing::info!(%person, %location, %date, %error, "booking refused"),
        }
        Ok::<_, ApiError>(result?)
    }
    .await;
    telemetry::observe_booking(&result);
    match result {
        Ok(confirmed) => {
            let status = if confirmed.newly_created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut response = private_json_response(status, &confirmed.booking);
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
#[utoipa::path(
    get,
    path = "/booking/{mysejahteraId}",
    tag = "bookings",
    operation_id = "getBooking",
    params(("mysejahteraId" = MySejahteraIdSchema, Path, description = "The person's MySejahtera ID")),
    responses(
        (status = 200, description = "The person's booking", body = BookingSchema),
        (status = 400, description = "`invalid_field`: not a MySejahtera ID", body = ErrorSchema,
            example = json!({"error": "invalid_field", "message": "mysejahteraId may contain only letters A-Z, digits, '-' and '_'", "field": "mysejahteraId"})),
        (status = 404, description = "`booking_not_found`", body = ErrorSchema,
            example = json!({"error": "booking_not_found", "message": "This person holds no booking."})),
        (status = 503, description = "`store_unavailable`: retry", body = ErrorSchema,
            example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn get_booking<S: SlotStore>(
    service: &BookingLookup<S>,
    request: Request,
) -> Response<Body> {
    let result = async {
        let id = booking_id(&request, "GET")?;
        Ok::<_, ApiError>(service.find(&id).await?)
    }
    .await;
    match result {
        Ok(booking) => private_json_response(StatusCode::OK, &booking),
        Err(error) => error.into_response(),
    }
}

/// Cancel a booking.
///
/// Removes the booking and frees its slot; 200 with what was cancelled, 404 when there was
/// nothing (so a repeated cancel is 404). The person may book again afterwards.
#[utoipa::path(
    delete,
    path = "/booking/{mysejahteraId}",
    tag = "bookings",
    operation_id = "cancelBooking",
    params(("mysejahteraId" = MySejahteraIdSchema, Path, description = "The person's MySejahtera ID")),
    responses(
        (status = 200, description = "The cancelled booking", body = BookingSchema),
        (status = 400, description = "`invalid_field`: not a MySejahtera ID", body = ErrorSchema,
            example = json!({"error": "invalid_field", "message": "mysejahteraId must be at most 64 characters", "field": "mysejahteraId"})),
        (status = 404, description = "`booking_not_found`, also for a second cancel", body = ErrorSchema,
            example = json!({"error": "booking_not_found", "message": "This person holds no booking."})),
        (status = 503, description = "`store_unavailable`: the cancel may or may not have happened; repeating it is safe",
            body = ErrorSchema, example = json!({"error": "store_unavailable", "message": "The booking store did not answer. Nothing is confirmed; repeating the same request is safe."})),
    )
)]
pub async fn cancel_booking<S: SlotStore, O: Outbox, P: EventPublisher>(
    service: &BookingService<S, O, P>,
    request: Request,
) -> Response<Body> {
    let result = async {
        let id = booking_id(&request, "DELETE")?;
        let cancelled = service.cancel(&id).await?;
        // A pseudonym, location and date only: personal data never goes to the logs.
        tracing::info!(person = %telemetry::person(&id), location = %cancelled.location, date = %cancelled.date, "booking cancelled");
        telemetry::metrics::booking_cancelled();
        Ok::<_, ApiError>(cancelled)
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
pub async fn healthz<S: SlotStore>(store: &S, request: Request) -> Response<Body> {
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
