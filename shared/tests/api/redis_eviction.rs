//! A Redis that may evict keys (and with them bookings) is reported at cold start: one ERROR
//! log line and a metric, read through INFO since managed Redis often refuses CONFIG.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared::ports::SlotStore;
use shared::store::{RedisStore, RedisTimeouts};

use crate::helpers::ServerProcess;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn connect(server: &ServerProcess) -> RedisStore {
    RedisStore::connect(
        &server.url(),
        RedisTimeouts {
            connect: Duration::from_millis(500),
            response: Duration::from_millis(1000),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn an_evicting_policy_is_logged_once_and_counted_at_cold_start() {
    let metrics = shared::telemetry::metrics::prometheus().expect("the only recorder here");
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
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{logs}");
    assert!(errors[0].contains("allkeys-lru"), "{logs}");
    assert!(errors[0].contains("noeviction"), "{logs}");
}
