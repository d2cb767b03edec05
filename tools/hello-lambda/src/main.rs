//! The reference for `make bench-cold`: what the Lambda runtime alone costs (start, memory,
//! per-invocation), so the functions' figures can be read against it. Not in template.yaml.
use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_: Request| async {
        Ok::<_, Error>(Response::new(Body::from("Hello, world!")))
    }))
    .await
}
