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
use booking_core::ports::{
    QueueJoin, QueuePlace, QueueProgress, QueueStore, RoomEpoch, StoreError,
};
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

static JOIN: LazyLock<Script> = composed_script!("queue_standing.lua", "queue_join.lua");
static PROGRESS: LazyLock<Script> = composed_script!("queue_standing.lua", "queue_progress.lua");
static ADVANCE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue_advance.lua")));
static OPEN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue_open.lua")));
static CLOSE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue_close.lua")));

pub const QUEUE_SEQ_KEY: &str = "queue:{room}:seq";
pub const QUEUE_SERVING_KEY: &str = "queue:{room}:serving";
pub const QUEUE_STATUS_KEY: &str = "queue:{room}:status";
pub const QUEUE_INLET_CLOCK_KEY: &str = "queue:{room}:inlet-clock";
/// The open epoch (hash id, openedAt, expiresAt, maxSize); gone while no room is open.
pub const QUEUE_EPOCH_KEY: &str = "queue:{room}:epoch";
/// The last epoch id given out: never expires, so ids only grow.
pub const QUEUE_EPOCHS_KEY: &str = "queue:{room}:epochs";

pub fn queue_person_key(pseudonym: &str) -> String {
    format!("queue:{{room}}:person:{pseudonym}")
}

fn number(field: &str, raw: &str) -> Result<u64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::UnexpectedReply(format!("queue script: {field} {raw:?}")))
}

/// `{serving, open, epoch id or ''}` as the progress and advance scripts answer.
fn progress(serving: u64, open: u8, epoch: &str) -> Result<QueueProgress, StoreError> {
    let epoch = (!epoch.is_empty())
        .then(|| number("epoch", epoch))
        .transpose()?;
    Ok(QueueProgress {
        serving,
        open: open == 1 && epoch.is_some(),
        epoch,
    })
}

/// `{id, openedAt, expiresAt, maxSize}` as the open and close scripts answer.
fn room_epoch(reply: &[String]) -> Result<RoomEpoch, StoreError> {
    match reply {
        [id, opened, expires, max_size] => Ok(RoomEpoch {
            id: number("id", id)?,
            opened_at_ms: number("openedAt", opened)?,
            expires_at_ms: number("expiresAt", expires)?,
            max_size: number("maxSize", max_size)?,
        }),
        other => Err(StoreError::UnexpectedReply(format!(
            "queue epoch script said {other:?}"
        ))),
    }
}

#[async_trait]
impl QueueStore for RedisStore {
    async fn join(&self, person: &str) -> Result<QueueJoin, StoreError> {
        let mut connection = self.connection();
        let reply: Vec<String> = store_call(
            "queue_join",
            JOIN.key(queue_person_key(person))
                .key(QUEUE_SEQ_KEY)
                .key(QUEUE_SERVING_KEY)
                .key(QUEUE_STATUS_KEY)
                .key(QUEUE_EPOCH_KEY)
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        match reply.as_slice() {
            [outcome] if outcome == "not_open" => Ok(QueueJoin::NotOpen),
            [outcome, max_size] if outcome == "full" => Ok(QueueJoin::Full {
                max_size: number("maxSize", max_size)?,
            }),
            [outcome, epoch, position, newly, serving, open] if outcome == "placed" => {
                let epoch = number("epoch", epoch)?;
                Ok(QueueJoin::Placed(QueuePlace {
                    epoch,
                    position: number("position", position)?,
                    newly_queued: newly == "1",
                    progress: QueueProgress {
                        serving: number("serving", serving)?,
                        open: open == "1",
                        epoch: Some(epoch),
                    },
                }))
            }
            other => Err(StoreError::UnexpectedReply(format!(
                "queue join said {other:?}"
            ))),
        }
    }

    async fn progress(&self) -> Result<QueueProgress, StoreError> {
        let mut connection = self.connection();
        let (serving, open, epoch): (u64, u8, String) = store_call(
            "queue_progress",
            PROGRESS
                .key(QUEUE_SERVING_KEY)
                .key(QUEUE_STATUS_KEY)
                .key(QUEUE_EPOCH_KEY)
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        progress(serving, open, &epoch)
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
        let (serving, open, epoch): (u64, u8, String) = store_call(
            "queue_advance",
            ADVANCE
                .key(QUEUE_SEQ_KEY)
                .key(QUEUE_SERVING_KEY)
                .key(QUEUE_STATUS_KEY)
                .key(QUEUE_INLET_CLOCK_KEY)
                .key(QUEUE_EPOCH_KEY)
                .arg(now_ms)
                .arg(people_per_minute)
                .arg(max_step)
                .arg(if sold_out { "1" } else { "0" })
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        progress(serving, open, &epoch)
    }

    async fn open_room(
        &self,
        now_ms: u64,
        lifetime_ms: u64,
        max_size: u64,
    ) -> Result<RoomEpoch, StoreError> {
        let mut connection = self.connection();
        let reply: Vec<String> = store_call(
            "queue_open",
            OPEN.key(QUEUE_EPOCHS_KEY)
                .key(QUEUE_EPOCH_KEY)
                .key(QUEUE_SEQ_KEY)
                .key(QUEUE_SERVING_KEY)
                .key(QUEUE_STATUS_KEY)
                .key(QUEUE_INLET_CLOCK_KEY)
                .arg(now_ms)
                .arg(lifetime_ms)
                .arg(max_size)
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        room_epoch(&reply)
    }

    async fn close_room(&self) -> Result<Option<RoomEpoch>, StoreError> {
        let mut connection = self.connection();
        let reply: Vec<String> = store_call(
            "queue_close",
            CLOSE
                .key(QUEUE_EPOCH_KEY)
                .key(QUEUE_SEQ_KEY)
                .key(QUEUE_SERVING_KEY)
                .key(QUEUE_STATUS_KEY)
                .key(QUEUE_INLET_CLOCK_KEY)
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        if reply.is_empty() {
            return Ok(None);
        }
        room_epoch(&reply).map(Some)
    }
}
