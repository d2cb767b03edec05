//! GET /healthz: 200 when Redis answers, 503 otherwise; for uptime monitors and load balancers.
use booking_core::ports::StoreError;
use booking_redis::RedisStore;
pub use booking_redis::config::RedisConfig as Settings;
use lambda_http::{Body, Request, Response};

pub struct Healthz {
    store: RedisStore,
}

impl Healthz {
    pub fn build(settings: Settings) -> Result<Self, StoreError> {
        Ok(Self {
            store: RedisStore::from_config(settings)?,
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::healthz(&self.store, request).await
    }
}
