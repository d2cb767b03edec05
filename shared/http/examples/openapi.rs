//! Prints the OpenAPI document; `make openapi` writes it to `openapi.json`.
fn main() {
    print!("{}", booking_http::openapi::openapi_document());
}
