use queue_join::{QueueJoin, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let function = booking_secrets::start(async |setting| {
        Ok(QueueJoin::build(Settings::from_lookup(setting)?).await?)
    })
    .await?;
    booking_http::serve(|request| function.handle(request)).await
}
