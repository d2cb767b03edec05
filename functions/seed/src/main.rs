use lambda_runtime::{LambdaEvent, service_fn};
use seed::{Seed, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function =
        booking_secrets::start(async |setting| Ok(Seed::build(Settings::from_lookup(setting)?)?))
            .await?;
    booking_runtime::run(service_fn(|event: LambdaEvent<_>| {
        function.handle(event.payload)
    }))
    .await
}
