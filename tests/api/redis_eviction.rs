//! A Redis that may evict keys (and with them bookings) is reported at cold start: one ERROR
//! log line and a metric, read through INFO since managed Redis often refuses CONFIG.
use std::time::{Duration, Instant};

use booking_core::ports::HealthCheck;
use booking_redis::RedisStore;

use crate::helpers::{Captured, ServerProcess, TEST_TIMEOUTS};

fn connect(server: &ServerProcess) -> RedisStore {
    RedisStore::connect(&server.url(), TEST_TIMEOUTS).unwrap()
}

#[tokio::test]
async fn an_evicting_policy_is_logged_once_and_counted_at_cold_start() {
    let metrics = ::local_api::prometheus().expect("the only recorder here");
    let captured = Captured::default();
    let writer = captured.clone();
    let _logs = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let evictions = || {
        metrics.render().lines().find_map(|line| {
            line.strip_prefix("redis_evicting_policy ")?
                .parse::<f64>()
                .ok()
        })
    };

    let safe = ServerProcess::redis_with(&["--maxmemory-policy", "noeviction"], false);
    assert_eq!(connect(&safe).check_eviction_policy().await, Ok(None));

    let evicting = ServerProcess::redis_with(&["--maxmemory-policy", "allkeys-lru"], false);
    let store = connect(&evicting);
    // The cold-start check runs in the background while the function initialises.
    let deadline = Instant::now() + Duration::from_secs(5);
    while evictions().is_none() {
        assert!(Instant::now() < deadline, "no redis_evicting_policy metric");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(evictions(), Some(1.0));
    store.ping().await.unwrap();
    let logs = captured.text();
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{logs}");
    assert!(errors[0].contains("allkeys-lru"), "{logs}");
    assert!(errors[0].contains("noeviction"), "{logs}");
}
