use cancel_booking::{CancelBooking, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_secrets::load_settings().await?;
    booking_runtime::start();
    let function = CancelBooking::build(Settings::from_lookup(booking_runtime::setting)?).await?;
    booking_http::serve(|request| function.handle(request)).await
}
