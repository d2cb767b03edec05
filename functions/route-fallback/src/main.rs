//! API Gateway's `$default` route: every request no other route took gets the contract's JSON
//! error (404 `route_not_found`, or 405 `method_not_allowed` with `Allow` when only the method
//! is wrong) instead of API Gateway's own `{"message":"Not Found"}`. Needs no Redis, no VPC and
//! no secret, so its cold start is the runtime's alone.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_runtime::start();
    booking_http::serve(|request| async move { booking_http::unrouted(&request) }).await
}
