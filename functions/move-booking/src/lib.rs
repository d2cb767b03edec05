//! PATCH /booking/{mysejahteraId}: move the booking its reference proves to another slot in
//! one step (the new slot taken and the old one freed together), publish the event.
use booking_core::config::ConfigError;
use booking_wiring::{BookingSettings, Bookings, BuildError};
use lambda_http::{Body, Request, Response};

pub struct Settings {
    pub bookings: BookingSettings,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            bookings: BookingSettings::from_lookup(lookup)?,
        })
    }
}

pub struct MoveBooking {
    bookings: Bookings,
}

impl MoveBooking {
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        Ok(Self {
            bookings: settings.bookings.bookings().await?,
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::move_booking(&self.bookings, request).await
    }
}
