//! GET /booking/{mysejahteraId}: the person's booking, to whoever shows its reference.
use booking_core::booking::BookingLookup;
use booking_core::config::{ConfigError, ReferenceKey};
use booking_core::ownership::BookingReferences;
use booking_core::ports::StoreError;
use booking_redis::RedisStore;
use booking_redis::config::RedisConfig;
use lambda_http::{Body, Request, Response};

pub struct Settings {
    pub redis: RedisConfig,
    pub references: ReferenceKey,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            redis: RedisConfig::from_lookup(&lookup)?,
            references: ReferenceKey::from_lookup(&lookup)?,
        })
    }
}

pub struct GetBooking {
    lookup: BookingLookup<RedisStore>,
}

impl GetBooking {
    pub fn build(settings: Settings) -> Result<Self, StoreError> {
        Ok(Self {
            lookup: BookingLookup::new(
                RedisStore::from_config(settings.redis)?,
                BookingReferences::configured(settings.references),
            ),
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::get_booking(&self.lookup, request).await
    }
}
