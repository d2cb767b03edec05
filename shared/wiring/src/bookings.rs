use std::sync::Arc;

use booking_core::booking::{BookingService, PublishSettings};
use booking_core::config::{ConfigError, IdentityConfig, ReferenceKey};
use booking_core::ownership::BookingReferences;
use booking_core::ports::{Clock, EventPublisher, StoreError, SystemClock};
use booking_kafka::KafkaPublisher;
use booking_kafka::config::KafkaConfig;
use booking_redis::RedisStore;
use booking_redis::config::RedisConfig;

use crate::{BuildError, identity_check};

/// The booking service over Redis, publishing with `P`.
pub type Bookings<P = KafkaPublisher> = BookingService<RedisStore, RedisStore, P>;

/// What booking and cancelling need: `REDIS_*`, `KAFKA_*`/`MSK_CLUSTER_ARN`,
/// `BOOKING_REFERENCE_KEY`, `IDENTITY*`; and, not from variables, how the request path publishes and the
/// clock (tests move their own).
pub struct BookingSettings {
    pub redis: RedisConfig,
    pub kafka: KafkaConfig,
    pub references: ReferenceKey,
    pub identity: IdentityConfig,
    pub publish: PublishSettings,
    pub clock: Arc<dyn Clock>,
}

impl BookingSettings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            redis: RedisConfig::from_lookup(&lookup)?,
            kafka: KafkaConfig::from_lookup(&lookup)?,
            references: ReferenceKey::from_lookup(&lookup)?,
            identity: IdentityConfig::from_lookup(&lookup)?,
            publish: PublishSettings::default(),
            clock: Arc::new(SystemClock),
        })
    }

    /// The store, on this clock: the booking service's, and the one other parts of a process
    /// (the waiting room, local-api's other endpoints) share.
    pub fn store(&self) -> Result<RedisStore, StoreError> {
        Ok(RedisStore::from_config(self.redis.clone())?.with_clock(Arc::clone(&self.clock)))
    }

    /// The booking service publishing with `publisher` on `store` (from [`Self::store`]), with
    /// no identity check: chain `with_identity` with [`crate::identity_check`]'s.
    pub fn bookings_with<P: EventPublisher>(self, store: RedisStore, publisher: P) -> Bookings<P> {
        BookingService::new(
            store.clone(),
            store,
            publisher,
            self.publish,
            BookingReferences::configured(self.references),
        )
        .with_clock(self.clock)
    }

    /// The booking service as create-, move- and cancel-booking run it: one request at a time,
    /// each publishing its own event, acting only for the identity `IDENTITY` asks for.
    pub async fn bookings(self) -> Result<Bookings, BuildError> {
        let identity = identity_check(&self.identity).await?;
        let store = self.store()?;
        let publisher = KafkaPublisher::from_config(&self.kafka).await;
        Ok(self.bookings_with(store, publisher).with_identity(identity))
    }
}
