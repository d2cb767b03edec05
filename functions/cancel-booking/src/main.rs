//! DELETE /booking/{mysejahteraId}: cancel the person's booking, free its slot, publish the event.
use shared::booking::{BookingService, PublishSettings};
use shared::kafka::KafkaPublisher;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let store = RedisStore::from_env()?;
    let publisher = KafkaPublisher::from_env().await?;
    let service = BookingService::new(store.clone(), store, publisher, PublishSettings::default());
    shared::http::serve(|request| shared::http::cancel_booking(&service, request)).await
}
