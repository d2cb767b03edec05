use lambda_runtime::{LambdaEvent, service_fn};
use seed::{Seed, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    booking_secrets::load_settings().await?;
    booking_runtime::start();
    let function = Seed::build(Settings::from_lookup(booking_runtime::setting)?)?;
    booking_runtime::run(service_fn(|event: LambdaEvent<_>| {
        function.handle(event.payload)
    }))
    .await
}
