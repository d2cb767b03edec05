//! POST /booking: book one slot for one person and publish its event.
use shared::booking::{BookingService, PublishSettings};
use shared::kafka::KafkaPublisher;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let store = RedisStore::from_env()?;
    let publisher = KafkaPublisher::from_env().await?;
    let service = BookingService::new(store.clone(), store, publisher, PublishSettings::default());
    shared::http::serve(|request| shared::http::create_booking(&service, request)).await
}
