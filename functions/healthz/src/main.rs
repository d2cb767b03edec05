//! GET /healthz: 200 when Redis answers, 503 otherwise; for uptime monitors and load balancers.

use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let store = RedisStore::from_env()?;
    shared::http::serve(|request| shared::http::healthz(&store, request)).await
}
