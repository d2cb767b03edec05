//! DELETE /booking/{mysejahteraId}: cancel the booking its reference proves, free its slot,
//! publish the event.
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

pub struct CancelBooking {
    bookings: Bookings,
}

impl CancelBooking {
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        Ok(Self {
            bookings: settings.bookings.bookings().await?,
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::cancel_booking(&self.bookings, request).await
    }
}
