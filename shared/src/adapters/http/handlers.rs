use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::ApiError;
use super::request::{json_object, path_value, require_method, string_fields};
use crate::booking::BookingService;
use crate::domain::{Booking, BookingRequest, Location};
use crate::ports::{EventPublisher, Outbox, SlotStore};
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

/// GET /stations/{location}: the station's dates, sorted, with their remaining slots.
pub async fn get_station<S: SlotStore>(
    service: &StationService<S>,
    request: Request,
) -> Response<Body> {
    let result = async {
        require_method(&request, Method::GET)?;
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
pub async fn create_booking<S: SlotStore, O: Outbox, P: EventPublisher>(
    service: &BookingService<S, O, P>,
    request: Request,
) -> Response<Body> {
    let result = async {
        require_method(&request, Method::POST)?;
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
            let mut response = json_response(status, &confirmed.booking);
            let location = format!("/booking/{}", confirmed.booking.mysejahtera_id.as_str());
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}
