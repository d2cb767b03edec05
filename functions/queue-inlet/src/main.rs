//! Scheduled every minute (or invoked by hand): lets people in from the waiting room at the
//! configured rate, one tick a second for `seconds` (default 55, so one run a minute keeps the
//! room moving smoothly), and closes it when no slot is left anywhere.
use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use shared::store::RedisStore;
use shared::waiting_room::{Inlet, SystemClock};

const DEFAULT_SECONDS: u64 = 55;
const TICK: Duration = Duration::from_secs(1);

/// The schedule sends its own event; only `seconds` is read, when present.
#[derive(Debug, Deserialize)]
struct InletRun {
    seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InletReport {
    ticks: u64,
    serving: u64,
    open: bool,
    slots_left: u64,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::config::load_secrets().await?;
    shared::telemetry::init();
    let settings = shared::config::inlet_settings(|name| std::env::var(name).ok())?;
    let inlet = Inlet::new(
        Arc::new(RedisStore::from_env()?),
        settings,
        Arc::new(SystemClock),
    );
    shared::telemetry::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let inlet = &inlet;
        async move {
            let run: InletRun =
                serde_json::from_value(event.payload).unwrap_or(InletRun { seconds: None });
            // At least one tick, and never past the function's 70 s timeout.
            let ticks = run.seconds.unwrap_or(DEFAULT_SECONDS).clamp(1, 60);
            let mut interval = tokio::time::interval(TICK);
            let mut last = Err(None);
            for _ in 0..ticks {
                interval.tick().await;
                // A failed tick (Redis briefly away) is logged and the next one tried: the rate's
                // clock is in Redis, so the next success catches up.
                match inlet.tick().await {
                    Ok(tick) => last = Ok(tick),
                    Err(error) => {
                        tracing::warn!(%error, "inlet tick failed");
                        if last.is_err() {
                            last = Err(Some(error));
                        }
                    }
                }
            }
            let last = match last {
                Ok(tick) => tick,
                Err(error) => {
                    return Err(error.map_or_else(
                        || "the inlet ran no tick".into(),
                        lambda_runtime::Error::from,
                    ));
                }
            };
            tracing::info!(
                serving = last.progress.serving,
                open = last.progress.open,
                slots_left = last.slots_left,
                "inlet run"
            );
            Ok::<_, lambda_runtime::Error>(InletReport {
                ticks,
                serving: last.progress.serving,
                open: last.progress.open,
                slots_left: last.slots_left,
            })
        }
    }))
    .await
}
