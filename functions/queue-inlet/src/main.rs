use lambda_runtime::{LambdaEvent, service_fn};
use queue_inlet::{QueueInlet, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = booking_secrets::start(async |setting| {
        Ok(QueueInlet::build(Settings::from_lookup(setting)?)?)
    })
    .await?;
    booking_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        function.handle(event.payload)
    }))
    .await
}
