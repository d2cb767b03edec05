use create_booking::{CreateBooking, Settings};

// One invocation at a time needs no worker threads: init, the first invocation and p50 measured
// lower on a current-thread runtime.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let function = booking_secrets::start(async |setting| {
        Ok(CreateBooking::build(Settings::from_lookup(setting)?).await?)
    })
    .await?;
    booking_http::serve(|request| function.handle(request)).await
}
