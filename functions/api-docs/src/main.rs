//! GET /openapi.json, GET /docs and GET /: the API's OpenAPI document, the page that renders it,
//! and the booking page. Needs no Redis, no VPC and no secret.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_runtime::start();
    booking_http::serve(booking_http::api_docs).await
}
