//! GET /booking/{mysejahteraId} and its slip and calendar entry (`/slip`, `/calendar`): the
//! person's booking, to whoever shows its reference. One function for the three: they read
//! the same record, and a slip is most often fetched right after the booking is.
use booking_core::booking::BookingLookup;
use booking_core::check_in::CheckInKey;
use booking_core::config::check_in::check_in_key;
use booking_core::config::{ConfigError, IdentityConfig, ReferenceKey};
use booking_core::ownership::BookingReferences;
use booking_redis::RedisStore;
use booking_redis::config::RedisConfig;
use booking_wiring::{BuildError, identity_check};
use lambda_http::{Body, Request, Response};

pub struct Settings {
    pub redis: RedisConfig,
    pub references: ReferenceKey,
    /// `CHECKIN_KEY`: signs the slip's check-in code.
    pub check_in: CheckInKey,
    /// `IDENTITY*`: who may read a booking besides showing its reference.
    pub identity: IdentityConfig,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            redis: RedisConfig::from_lookup(&lookup)?,
            references: ReferenceKey::from_lookup(&lookup)?,
            check_in: check_in_key(&lookup)?,
            identity: IdentityConfig::from_lookup(&lookup)?,
        })
    }
}

pub struct GetBooking {
    lookup: BookingLookup<RedisStore>,
    check_in: CheckInKey,
}

impl GetBooking {
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        let identity = identity_check(&settings.identity).await?;
        Ok(Self {
            lookup: BookingLookup::new(
                RedisStore::from_config(settings.redis)?,
                BookingReferences::configured(settings.references),
            )
            .with_identity(identity),
            check_in: settings.check_in,
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let path = request.uri().path().trim_end_matches('/');
        if path.ends_with("/slip") {
            booking_http::booking_slip(&self.lookup, &self.check_in, request).await
        } else if path.ends_with("/calendar") {
            booking_http::booking_calendar(&self.lookup, request).await
        } else {
            booking_http::get_booking(&self.lookup, request).await
        }
    }
}
