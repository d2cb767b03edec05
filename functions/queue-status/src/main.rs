use queue_status::{QueueStatus, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_runtime::start().await?;
    let function = QueueStatus::build(Settings::from_lookup(booking_runtime::setting)?)?;
    booking_runtime::serve_http(|request| function.handle(request)).await
}
