use verify_identity::{Settings, VerifyIdentity};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let function = booking_secrets::start(async |setting| {
        Ok(VerifyIdentity::build(Settings::from_lookup(setting)?)?)
    })
    .await?;
    booking_http::serve(|request| function.handle(request)).await
}
