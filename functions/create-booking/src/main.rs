use create_booking::{CreateBooking, Settings};

// One invocation at a time needs no worker threads: init, the first invocation and p50 measured
// lower on a current-thread runtime.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    booking_secrets::load_settings().await?;
    booking_runtime::start();
    let function = CreateBooking::build(Settings::from_lookup(booking_runtime::setting)?).await?;
    booking_http::serve(|request| function.handle(request)).await
}
