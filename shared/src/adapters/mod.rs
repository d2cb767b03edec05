//! Everything that talks to the outside world: Redis, HTTP, the environment, logs.
pub mod config;
pub mod http;
pub mod kafka;
pub mod redis;
pub mod secrets;
pub mod telemetry;

use crate::booking::{BookingService, PublishSettings};

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
    ))
}
