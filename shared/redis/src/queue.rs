//! The waiting room's keys. Every queue key shares the hash tag `{room}` (literally), so the
//! scripts that touch several of them run on Redis Cluster too:
//! - `queue:{room}:seq`        the last position handed out (INCR)
//! - `queue:{room}:serving`    every position up to this one is admitted
//! - `queue:{room}:status`     `open` or `closed` (no slot left anywhere), set by the inlet
//! - `queue:{room}:inlet-clock` ms up to which the inlet's rate allowance was spent
//! - `queue:{room}:person:{pseudonym}` a person's position; keyed by the keyed hash of the
//!   ID, so the queue holds no ID
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::{RedisStore, STATIONS_KEY, unavailable};
use booking_core::config::{ConfigError, WaitingRoomConfig};
use booking_core::domain::Location;
use booking_core::ports::{QueuePlace, QueueProgress, QueueStore, StoreError};
use booking_core::service_metrics::store_call;
use booking_core::waiting_room::WaitingRoom;

use crate::config::RedisConfig;

/// What the waiting room's functions (queue-join, queue-status) need: `REDIS_*` and the room's
/// own settings (`WAITING_ROOM`, `ADMISSION_KEY`, ...).
pub struct RoomSettings {
    pub redis: RedisConfig,
    pub room: WaitingRoomConfig,
}

impl RoomSettings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            redis: RedisConfig::from_lookup(&lookup)?,
            room: WaitingRoomConfig::from_lookup(&lookup)?,
        })
    }

    /// The room over this Redis, on the system clock.
    pub fn waiting_room(self) -> Result<WaitingRoom, StoreError> {
        let store = RedisStore::from_config(self.redis)?;
        Ok(WaitingRoom::configured(
            std::sync::Arc::new(store),
            &self.room,
        ))
    }
}

static JOIN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue_join.lua")));
static ADVANCE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue_advance.lua")));

pub const QUEUE_SEQ_KEY: &str = "queue:{room}:seq";
pub const QUEUE_SERVING_KEY: &str = "queue:{room}:serving";
pub const QUEUE_STATUS_KEY: &str = "queue:{room}:status";
pub const QUEUE_INLET_CLOCK_KEY: &str = "queue:{room}:inlet-clock";

pub fn queue_person_key(pseudonym: &str) -> String {
    format!("queue:{{room}}:person:{pseudonym}")
}

#[async_trait]
impl QueueStore for RedisStore {
    async fn join(&self, person: &str) -> Result<QueuePlace, StoreError> {
        let mut connection = self.connection();
        let (position, newly, serving, open): (u64, u8, u64, u8) = store_call(
            "queue_join",
            JOIN.key(queue_person_key(person))
                .key(QUEUE_SEQ_KEY)
                .key(QUEUE_SERVING_KEY)
                .key(QUEUE_STATUS_KEY)
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        Ok(QueuePlace {
            position,
            newly_queued: newly == 1,
            progress: QueueProgress {
                serving,
                open: open == 1,
            },
        })
    }

    async fn progress(&self) -> Result<QueueProgress, StoreError> {
        let mut connection = self.connection();
        let (serving, status): (Option<u64>, Option<String>) = store_call(
            "queue_progress",
            connection.mget(&[QUEUE_SERVING_KEY, QUEUE_STATUS_KEY]),
        )
        .await
        .map_err(unavailable)?;
        Ok(QueueProgress {
            serving: serving.unwrap_or(0),
            open: status.as_deref() != Some("closed"),
        })
    }

    async fn slots_left(&self) -> Result<u64, StoreError> {
        let mut connection = self.connection();
        let stations: Vec<String> = store_call("stations", connection.smembers(STATIONS_KEY))
            .await
            .map_err(unavailable)?;
        let locations = stations
            .iter()
            .map(|station| {
                Location::parse(station)
                    .map_err(|e| StoreError::UnexpectedReply(format!("stations: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // One round trip for every station (see `per_station`).
        let counters: Vec<Vec<i64>> = self.per_station("slots_left", "HVALS", &locations).await?;
        Ok(counters
            .iter()
            .flatten()
            .map(|remaining| u64::try_from(*remaining).unwrap_or(0))
            .sum())
    }

    async fn advance(
        &self,
        now_ms: u64,
        people_per_minute: u64,
        max_step: u64,
        sold_out: bool,
    ) -> Result<QueueProgress, StoreError> {
        let mut connection = self.connection();
        let (serving, open): (u64, u8) = store_call(
            "queue_advance",
            ADVANCE
                .key(QUEUE_SEQ_KEY)
                .key(QUEUE_SERVING_KEY)
                .key(QUEUE_STATUS_KEY)
                .key(QUEUE_INLET_CLOCK_KEY)
                .arg(now_ms)
                .arg(people_per_minute)
                .arg(max_step)
                .arg(if sold_out { "1" } else { "0" })
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        Ok(QueueProgress {
            serving,
            open: open == 1,
        })
    }
}
