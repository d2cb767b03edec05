//! POST /booking: book one slot for one person and publish its event.
use shared::booking::{BookingService, PublishSettings};
use shared::config::{Config, KafkaConfig};
use shared::kafka::KafkaPublisher;
use shared::store::{RedisStore, RedisTimeouts};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let kafka = KafkaConfig::from_env()?;
    let store = RedisStore::connect(&config.redis_url, RedisTimeouts::default())?;
    let publisher = KafkaPublisher::from_config(&kafka).await?;
    let service = BookingService::new(store.clone(), store, publisher, PublishSettings::default());
    shared::http::serve(|request| shared::http::create_booking(&service, request)).await
}
