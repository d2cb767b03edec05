use cancel_booking::{CancelBooking, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_runtime::start().await?;
    let function = CancelBooking::build(Settings::from_lookup(booking_runtime::setting)?).await?;
    booking_runtime::serve_http(|request| function.handle(request)).await
}
