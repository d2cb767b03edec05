use lambda_runtime::{LambdaEvent, service_fn};
use outbox_relay::{Relay, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    booking_secrets::load_settings().await?;
    booking_runtime::start();
    let function = Relay::build(Settings::from_lookup(booking_runtime::setting)?).await?;
    booking_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        function.handle(event.context.deadline)
    }))
    .await
}
