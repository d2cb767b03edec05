//! The Redis store. Data model (documented for operators in the README):
//! - `slots:{location}`    hash, date (YYYYMMDD) -> remaining slots; one station in one read
//! - `capacity:{location}` hash, date -> daily capacity, so a reset never re-opens booked slots
//! - `booking:{id}`        string, the person's one booking as canonical JSON
//! - `stations`            set of every seeded location
//!
//! Identifiers in keys are restricted by the domain types to `[A-Za-z0-9_-]`, so user input
//! can never address another key.
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use crate::adapters::config::Config;
use crate::domain::{Booking, BookingRequest, Location, MySejahteraId, Slot, SlotDate};
use crate::ports::{BookingOutcome, SlotStore, StationPlan, StationSeeded, StoreError};

static BOOK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("book.lua")));
static SEED: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("seed.lua")));
static CANCEL: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("cancel.lua")));

pub const STATIONS_KEY: &str = "stations";
// The cancel script derives a station's keys from the booking it reads, so it is handed the
// prefixes rather than repeating them.
const SLOTS_PREFIX: &str = "slots:";
const CAPACITY_PREFIX: &str = "capacity:";

pub fn slots_key(location: &Location) -> String {
    format!("{SLOTS_PREFIX}{location}")
}

pub fn capacity_key(location: &Location) -> String {
    format!("{CAPACITY_PREFIX}{location}")
}

pub fn booking_key(id: &MySejahteraId) -> String {
    format!("booking:{}", id.as_str())
}

/// Bounds on waiting for Redis: a booking rush must fail fast with 503 rather than pile up
/// requests behind a dead connection.
#[derive(Debug, Clone, Copy)]
pub struct RedisTimeouts {
    pub connect: Duration,
    pub response: Duration,
}

impl Default for RedisTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(1000),
            response: Duration::from_millis(2000),
        }
    }
}

/// One multiplexed connection per container, shared by every invocation. It connects lazily
/// (a cold start with Redis down still answers 503 instead of failing init) and reconnects by
/// itself after Redis restarts.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
}

impl RedisStore {
    pub fn connect(url: &str, timeouts: RedisTimeouts) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response))
            // Few, short retries: a waiting request is worse than a quick 503 the client retries.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self { connection })
    }

    /// The store the environment names (`REDIS_URL`), with production timeouts: what every
    /// function's `main` needs. Fails naming the variable when the setting is invalid.
    pub fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_env()?;
        Ok(Self::connect(&config.redis_url, RedisTimeouts::default())?)
    }

    /// The connection, for tests and tools that inspect the data model directly.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// A stored booking back into its value type; only this code writes them, so a failure means
/// the data was edited by hand.
fn stored_booking(json: &str) -> Result<Booking, StoreError> {
    let request: BookingRequest = serde_json::from_str(json)
        .map_err(|e| StoreError::UnexpectedReply(format!("stored booking: {e}")))?;
    Booking::parse(&request)
        .map_err(|e| StoreError::UnexpectedReply(format!("stored booking: {e}")))
}

#[async_trait]
impl SlotStore for RedisStore {
    async fn station_slots(&self, location: &Location) -> Result<Vec<Slot>, StoreError> {
        let mut connection = self.connection.clone();
        let raw: Vec<(String, i64)> = connection
            .hgetall(slots_key(location))
            .await
            .map_err(unavailable)?;
        raw.into_iter()
            .map(|(date, remaining)| {
                let date = SlotDate::parse(&date)
                    .map_err(|e| StoreError::UnexpectedReply(format!("{location}: {e}")))?;
                Ok(Slot {
                    location: location.clone(),
                    date,
                    // A counter never goes below zero; clamp rather than fail a read if an
                    // operator edited it by hand.
                    availability: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    async fn book(&self, booking: &Booking) -> Result<BookingOutcome, StoreError> {
        let mut connection = self.connection.clone();
        let outcome: String = BOOK
            .key(slots_key(&booking.location))
            .key(booking_key(&booking.mysejahtera_id))
            .arg(booking.date.to_string())
            .arg(booking.to_json())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        match outcome.as_str() {
            "created" => Ok(BookingOutcome::Created),
            "already_held" => Ok(BookingOutcome::AlreadyHeld),
            "already_booked" => Ok(BookingOutcome::AlreadyBooked),
            "fully_booked" => Ok(BookingOutcome::FullyBooked),
            "unknown_station" => Ok(BookingOutcome::UnknownStation),
            "unknown_date" => Ok(BookingOutcome::UnknownDate),
            other => Err(StoreError::UnexpectedReply(format!(
                "booking script said {other:?}"
            ))),
        }
    }

    async fn find_booking(&self, id: &MySejahteraId) -> Result<Option<Booking>, StoreError> {
        let mut connection = self.connection.clone();
        let stored: Option<String> = connection.get(booking_key(id)).await.map_err(unavailable)?;
        stored.as_deref().map(stored_booking).transpose()
    }

    async fn cancel(&self, id: &MySejahteraId) -> Result<Option<Booking>, StoreError> {
        let mut connection = self.connection.clone();
        let removed: Option<String> = CANCEL
            .key(booking_key(id))
            .arg(SLOTS_PREFIX)
            .arg(CAPACITY_PREFIX)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        removed.as_deref().map(stored_booking).transpose()
    }

    async fn seed_station(
        &self,
        plan: &StationPlan,
        reset: bool,
    ) -> Result<StationSeeded, StoreError> {
        let mut connection = self.connection.clone();
        let mut invocation = SEED.prepare_invoke();
        invocation
            .key(slots_key(&plan.location))
            .key(capacity_key(&plan.location))
            .key(STATIONS_KEY)
            .arg(plan.location.as_str())
            .arg(plan.daily_capacity)
            .arg(if reset { "1" } else { "0" });
        for date in &plan.dates {
            invocation.arg(date.to_string());
        }
        let (dates_written, dates_skipped): (u32, u32) = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(StationSeeded {
            dates_written,
            dates_skipped,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}
