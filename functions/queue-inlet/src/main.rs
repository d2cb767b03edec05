use lambda_runtime::{LambdaEvent, service_fn};
use queue_inlet::{QueueInlet, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    booking_secrets::load_settings().await?;
    booking_runtime::start();
    let function = QueueInlet::build(Settings::from_lookup(booking_runtime::setting)?)?;
    booking_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        function.handle(event.payload)
    }))
    .await
}
