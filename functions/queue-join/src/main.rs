use queue_join::{QueueJoin, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_secrets::load_settings().await?;
    booking_runtime::start();
    let function = QueueJoin::build(Settings::from_lookup(booking_runtime::setting)?)?;
    booking_http::serve(|request| function.handle(request)).await
}
