use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::ApiError;
use super::request::{json_object, path_value, require_method, string_fields};
use crate::booking::BookingService;
use crate::domain::{Booking, BookingRequest, Location, MySejahteraId};
use crate::ports::SlotStore;
use crate::station::StationService;

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
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

/// GET /stations/{location}: the station's dates, sorted, with their remaining slots.
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
            let mut response = json_response(StatusCode::OK, &slots);
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

/// POST /booking: 201 with the stored booking, 200 when the identical booking is already held.
pub async fn create_booking<S: SlotStore>(
    service: &BookingService<S>,
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
        let result = service.book(booking).await;
        // Location and date only: personal data never goes to the logs.
        match &result {
            Ok(confirmed) => tracing::info!(%location, %date, newly_created = confirmed.newly_created, "booking confirmed"),
            Err(error) => tracing::info!(%location, %date, %error, "booking refused"),
        }
        Ok::<_, ApiError>(result?)
    }
    .await;
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

/// GET /booking/{mysejahteraId}: the person's booking.
pub async fn get_booking<S: SlotStore>(
    service: &BookingService<S>,
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

/// DELETE /booking/{mysejahteraId}: removes the booking and frees its slot; 200 with what was
/// cancelled, 404 when there was nothing (also for a repeated cancel).
pub async fn cancel_booking<S: SlotStore>(
    service: &BookingService<S>,
    request: Request,
) -> Response<Body> {
    let result = async {
        let id = booking_id(&request, "DELETE")?;
        let cancelled = service.cancel(&id).await?;
        // Location and date only: personal data never goes to the logs.
        tracing::info!(location = %cancelled.location, date = %cancelled.date, "booking cancelled");
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

/// GET /healthz: 200 when the store answers PING, 503 with the error body otherwise, so a load
/// balancer takes an instance out while its Redis is unreachable.
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
