//! Prints the OpenAPI document; `make openapi` writes it to `openapi.json`.
fn main() {
    print!("{}", shared::http::openapi::openapi_document());
}
