//! GET /stations/{location}: remaining slots per date at one station.
use shared::station::StationService;
use shared::store::RedisStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let service = StationService::new(RedisStore::from_env()?);
    shared::http::serve(|request| shared::http::get_station(&service, request)).await
}
