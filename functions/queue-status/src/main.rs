use queue_status::{QueueStatus, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let function = booking_secrets::start(async |setting| {
        Ok(QueueStatus::build(Settings::from_lookup(setting)?)?)
    })
    .await?;
    booking_http::serve(|request| function.handle(request)).await
}
