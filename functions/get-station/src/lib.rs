//! GET /stations/{location} and GET /stations: remaining slots per date at one station, and
//! at every station. One function for both, so that both share its warm containers, their
//! Redis connection and their in-process cache.
use std::time::Duration;

use booking_core::config::ConfigError;
use booking_core::ports::StoreError;
use booking_core::station::{STATION_CACHE_MAX_AGE, StationService};
use booking_redis::RedisStore;
use booking_redis::config::RedisConfig;
use lambda_http::{Body, Request, Response};

pub struct Settings {
    pub redis: RedisConfig,
    /// Not a variable: how long a read is answered from memory (the contract's `max-age=1`;
    /// tests that read what they just wrote use zero).
    pub cache_max_age: Duration,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            redis: RedisConfig::from_lookup(lookup)?,
            cache_max_age: STATION_CACHE_MAX_AGE,
        })
    }
}

pub struct GetStation {
    stations: StationService<RedisStore>,
}

impl GetStation {
    pub fn build(settings: Settings) -> Result<Self, StoreError> {
        let store = RedisStore::from_config(settings.redis)?;
        Ok(Self {
            stations: StationService::cached(store, settings.cache_max_age),
        })
    }

    pub fn stations(&self) -> &StationService<RedisStore> {
        &self.stations
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::station_reads(&self.stations, request).await
    }
}
