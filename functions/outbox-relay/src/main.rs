use lambda_runtime::{LambdaEvent, service_fn};
use outbox_relay::{Relay, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = booking_secrets::start(async |setting| {
        Ok(Relay::build(Settings::from_lookup(setting)?).await?)
    })
    .await?;
    booking_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        function.handle(event.context.deadline)
    }))
    .await
}
