use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use booking_core::booking::BookingError;
use booking_core::domain::ValidationError;
use booking_core::ports::StoreError;
use booking_core::station::StationError;

/// An error as the API contract shows it: a status and `{"error", "message", "field"?}`, where
/// `error` is a stable code clients can switch on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    #[serde(rename = "error")]
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The methods the path does take, sent as `Allow` with a 405 (RFC 9110 asks for it).
    #[serde(skip)]
    pub allow: Option<&'static str>,
    /// Seconds to wait, sent as `Retry-After` (a limit that ends, such as a 429's).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            allow: None,
            retry_after: None,
        }
    }

    /// `allow` lists the methods the path takes, e.g. `GET, DELETE`.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("Use {allow}."),
            )
        }
    }

    pub fn route_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            "No endpoint has this path; see /openapi.json.",
        )
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field} {}", message.into());
        Self {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_field", message)
        }
    }

    /// 401 with `WWW-Authenticate: Bearer`: the booking endpoints need the booking reference.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Send the booking reference from the booking's confirmation as \
             `Authorization: Bearer <bookingReference>`.",
        )
    }

    pub fn malformed_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_string(&self).expect("an error body is plain strings");
        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        // The other attempt ends within seconds (its claim's TTL at most).
        if self.code == "booking_in_progress" {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(super::RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self::invalid_field(error.field, error.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failed");
        match error {
            StoreError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "The booking store did not answer. Nothing is confirmed; repeating the same \
                 request is safe.",
            ),
            StoreError::UnexpectedReply(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "The booking store answered unexpectedly. Nothing is confirmed.",
            ),
        }
    }
}

impl From<StationError> for ApiError {
    fn from(error: StationError) -> Self {
        match error {
            StationError::UnknownStation(location) => Self::new(
                StatusCode::NOT_FOUND,
                "station_not_found",
                format!("No station is called {location}."),
            ),
            StationError::Store(error) => error.into(),
        }
    }
}

impl From<BookingError> for ApiError {
    fn from(error: BookingError) -> Self {
        match error {
            BookingError::AlreadyBooked => Self::new(
                StatusCode::CONFLICT,
                "already_booked",
                "This person already holds a booking.",
            ),
            BookingError::InProgress => Self::new(
                StatusCode::CONFLICT,
                "booking_in_progress",
                "Another booking request for this person is being processed; retry after the \
                 Retry-After seconds.",
            ),
            BookingError::FullyBooked => Self::new(
                StatusCode::CONFLICT,
                "fully_booked",
                "No slots are left at this station on this date.",
            ),
            BookingError::UnknownStation(location) => Self::new(
                StatusCode::NOT_FOUND,
                "station_not_found",
                format!("No station is called {location}."),
            ),
            BookingError::UnknownDate(date) => Self::new(
                StatusCode::NOT_FOUND,
                "date_not_found",
                format!("The station has no slots on {date}."),
            ),
            // Also a reference that is not the booking's: the same bytes either way.
            BookingError::NotBooked => Self::new(
                StatusCode::NOT_FOUND,
                "booking_not_found",
                "No booking matches this ID and booking reference.",
            ),
            BookingError::NoRandomness => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "The booking could not be secured. Nothing is confirmed; repeating the same \
                 request is safe.",
            ),
            BookingError::Store(error) => error.into(),
        }
    }
}
