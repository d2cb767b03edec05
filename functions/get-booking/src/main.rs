use get_booking::{GetBooking, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let function = booking_secrets::start(async |setting| {
        Ok(GetBooking::build(Settings::from_lookup(setting)?).await?)
    })
    .await?;
    booking_http::serve(|request| function.handle(request)).await
}
