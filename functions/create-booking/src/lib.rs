//! POST /booking: book one slot for one person and publish its event; while the waiting room
//! is on, only for a person with a valid admission token.
use std::sync::Arc;

use booking_core::config::{ConfigError, WaitingRoomConfig};
use booking_core::waiting_room::AdmissionGate;
use booking_wiring::{BookingSettings, Bookings, BuildError};
use lambda_http::{Body, Request, Response};

pub struct Settings {
    pub bookings: BookingSettings,
    /// `WAITING_ROOM`, `ADMISSION_KEY`.
    pub room: WaitingRoomConfig,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            bookings: BookingSettings::from_lookup(&lookup)?,
            room: WaitingRoomConfig::from_lookup(&lookup)?,
        })
    }
}

pub struct CreateBooking {
    gate: Option<AdmissionGate>,
    bookings: Bookings,
}

impl CreateBooking {
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        let bookings = settings.bookings.bookings().await?;
        // The gate reads the room's epoch from the same Redis, on the same connection.
        let queue = Arc::new(bookings.store().clone());
        Ok(Self {
            gate: AdmissionGate::configured(queue, &settings.room),
            bookings,
        })
    }

    pub fn bookings(&self) -> &Bookings {
        &self.bookings
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::create_admitted_booking(self.gate.as_ref(), &self.bookings, request).await
    }
}
