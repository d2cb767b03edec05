//! GET /openapi.json and GET /docs: the API's OpenAPI document and the page that renders it.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    shared::http::serve(shared::http::api_docs).await
}
