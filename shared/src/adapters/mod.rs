//! Everything that talks to the outside world: Redis, HTTP, the environment, logs.
pub mod config;
pub mod http;
pub mod kafka;
pub mod redis;
pub mod secrets;
pub mod telemetry;

use crate::booking::{BookingService, PublishSettings};
use crate::ownership::BookingReferences;

/// Booking references under the key the environment names (`BOOKING_REFERENCE_KEY`); fails
/// naming the variable in Lambda without one, and warns when the public development key stands
/// in for it elsewhere.
pub fn booking_references_from_env() -> Result<BookingReferences, config::ConfigError> {
    let setting = config::ReferenceKey::from_env()?;
    if setting.development {
        tracing::warn!(
            "{} is not set: booking references use the public development key; set it anywhere \
             real people book",
            config::BOOKING_REFERENCE_KEY
        );
    }
    Ok(BookingReferences::new(setting.key))
}

/// The booking service as deployed: Redis as store and outbox, the broker the environment
/// names. Every function that books or cancels starts from this.
pub async fn booking_service_from_env() -> Result<
    BookingService<redis::RedisStore, redis::RedisStore, kafka::KafkaPublisher>,
    Box<dyn std::error::Error + Send + Sync>,
> {
    let store = redis::RedisStore::from_env()?;
    let publisher = kafka::KafkaPublisher::from_env().await?;
    Ok(BookingService::new(
        store.clone(),
        store,
        publisher,
        PublishSettings::default(),
        booking_references_from_env()?,
    ))
}

/// The waiting room over `store` as the environment configures it (see
/// [`config::WaitingRoomConfig`]), on the system clock.
pub fn waiting_room(
    store: redis::RedisStore,
    config: &config::WaitingRoomConfig,
) -> crate::waiting_room::WaitingRoom {
    use std::sync::Arc;
    crate::waiting_room::WaitingRoom::new(
        Arc::new(store),
        crate::waiting_room::AdmissionKeys::new(&config.admission_key),
        Arc::new(crate::waiting_room::SystemClock),
    )
}

/// The check `POST /booking` makes while the room is on; None while it is off.
pub fn admission_gate(
    config: &config::WaitingRoomConfig,
) -> Option<crate::waiting_room::AdmissionGate> {
    config.room_on.then(|| {
        crate::waiting_room::AdmissionGate::new(
            crate::waiting_room::AdmissionKeys::new(&config.admission_key),
            std::sync::Arc::new(crate::waiting_room::SystemClock),
        )
    })
}
