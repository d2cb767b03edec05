//! Scheduled every minute (or invoked by hand): lets people in from the waiting room at the
//! configured rate, one tick a second for `seconds` (default 55, so one run a minute keeps the
//! room moving smoothly), and closes it when no slot is left anywhere.
use std::sync::Arc;
use std::time::Duration;

use booking_core::config::{ConfigError, inlet_settings};
use booking_core::ports::StoreError;
use booking_core::waiting_room::{Inlet, InletSettings, SystemClock};
use booking_redis::RedisStore;
use booking_redis::config::RedisConfig;
use serde::{Deserialize, Serialize};

const DEFAULT_SECONDS: u64 = 55;
const TICK: Duration = Duration::from_secs(1);

pub struct Settings {
    pub redis: RedisConfig,
    /// `QUEUE_INLET_MODE`, `QUEUE_INLET_RATE` (the inlet needs no key).
    pub inlet: InletSettings,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            redis: RedisConfig::from_lookup(&lookup)?,
            inlet: inlet_settings(&lookup)?,
        })
    }
}

/// The schedule sends its own event; only `seconds` is read, when present.
#[derive(Debug, Deserialize)]
pub struct InletRun {
    pub seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InletReport {
    pub ticks: u64,
    pub serving: u64,
    pub open: bool,
    pub slots_left: u64,
}

pub struct QueueInlet {
    inlet: Inlet,
}

impl QueueInlet {
    pub fn build(settings: Settings) -> Result<Self, StoreError> {
        let store = RedisStore::from_config(settings.redis)?;
        Ok(Self {
            inlet: Inlet::new(Arc::new(store), settings.inlet, Arc::new(SystemClock)),
        })
    }

    /// One run: a tick a second for the event's `seconds`.
    pub async fn handle(
        &self,
        event: serde_json::Value,
    ) -> Result<InletReport, lambda_runtime::Error> {
        let run: InletRun = serde_json::from_value(event).unwrap_or(InletRun { seconds: None });
        // At least one tick, and never past the function's 70 s timeout.
        let ticks = run.seconds.unwrap_or(DEFAULT_SECONDS).clamp(1, 60);
        let mut interval = tokio::time::interval(TICK);
        let mut last = Err(None);
        for _ in 0..ticks {
            interval.tick().await;
            // A failed tick (Redis briefly away) is logged and the next one tried: the rate's
            // clock is in Redis, so the next success catches up.
            match self.inlet.tick().await {
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
        Ok(InletReport {
            ticks,
            serving: last.progress.serving,
            open: last.progress.open,
            slots_left: last.slots_left,
        })
    }
}
