//! The Redis store. Data model (documented for operators in the README):
//! - `slots:{location}`    hash, date (YYYYMMDD) -> remaining slots; one station in one read
//! - `capacity:{location}` hash, date -> daily capacity
//! - `held:{location}`     hash, date -> bookings held; remaining = max(capacity - held, 0), so
//!   a reset never re-opens booked slots
//! - `booking:{id}`        string, the person's one booking as canonical JSON
//! - `event-seq:{id}`      counter, the sequence of the person's last event (never deleted)
//! - `booking-owner:{id}`  hash, `nonce` (32 hex digits) and `bookedAt` (Unix ms) of that booking:
//!   its reference is derived from the nonce with a key Redis never sees
//! - `stations`            set of every seeded location
//! - `outbox:booking-events` stream of events not yet acknowledged by the broker (fields `key`,
//!   `event`), appended by the same script that changes the booking
//! - `outbox:relay-lease`  string, held by the one relay that runs
//!
//! Identifiers in keys are restricted by the domain types to `[A-Za-z0-9_-]`, so user input
//! can never address another key.
mod connection;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    AsyncCommands, ErrorKind, FromRedisValue, RedisResult, Script, ScriptInvocation,
    ServerErrorKind, TlsCertificates,
};
use secrecy::ExposeSecret;

use self::connection::{Reconnecting, SharedConnection};
use crate::adapters::config::{Config, DEFAULT_BOOKING_RETENTION_DAYS, ReplicaWait};
use crate::adapters::telemetry::metrics::store_call;
use crate::domain::{
    Booking, BookingOwnership, BookingRequest, EventRecord, EventStamp, Location, MySejahteraId,
    ReferenceNonce, Slot, SlotDate,
};
use crate::ports::{
    BookingOutcome, Cancelled, HeldBooking, HeldMigrated, Outbox, OutboxEntry, SlotStore,
    StationPlan, StationSeeded, StoreError,
};
use crate::service_metrics;

static BOOK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("book.lua")));
static SEED: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("seed.lua")));
static CANCEL: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("cancel.lua")));
static OUTBOX_OLDEST: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("outbox_oldest.lua")));
static MIGRATE_HELD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("migrate_held.lua")));
static RELEASE_LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("release_lease.lua")));
static RENEW_LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("renew_lease.lua")));

pub const STATIONS_KEY: &str = "stations";
pub const OUTBOX_KEY: &str = "outbox:booking-events";
pub const RELAY_LEASE_KEY: &str = "outbox:relay-lease";
pub fn slots_key(location: &Location) -> String {
    format!("slots:{location}")
}

pub fn capacity_key(location: &Location) -> String {
    format!("capacity:{location}")
}

pub fn held_key(location: &Location) -> String {
    format!("held:{location}")
}

pub fn booking_key(id: &MySejahteraId) -> String {
    format!("booking:{}", id.as_str())
}

/// The person's event counter: never deleted, so a rebooking's events continue the numbering.
pub fn event_sequence_key(id: &MySejahteraId) -> String {
    format!("event-seq:{}", id.as_str())
}

fn parse_sequence(reply: &str) -> Result<u64, StoreError> {
    reply
        .parse()
        .map_err(|_| StoreError::UnexpectedReply(format!("event sequence {reply:?}")))
}

pub fn booking_owner_key(id: &MySejahteraId) -> String {
    format!("booking-owner:{}", id.as_str())
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The `booking-owner:{id}` fields back into an ownership; both absent means a booking stored
/// before references existed.
fn stored_ownership(
    nonce: Option<&str>,
    booked_at: Option<&str>,
) -> Result<Option<BookingOwnership>, StoreError> {
    let (nonce, booked_at) = match (nonce, booked_at) {
        (None | Some(""), None | Some("")) => return Ok(None),
        (Some(nonce), Some(booked_at)) => (nonce, booked_at),
        _ => {
            return Err(StoreError::UnexpectedReply(
                "booking owner record lacks nonce or bookedAt".into(),
            ));
        }
    };
    let nonce = ReferenceNonce::from_hex(nonce).ok_or_else(|| {
        StoreError::UnexpectedReply("booking owner record holds an invalid nonce".into())
    })?;
    let millis: u64 = booked_at.parse().map_err(|_| {
        StoreError::UnexpectedReply("booking owner record holds an invalid bookedAt".into())
    })?;
    Ok(Some(BookingOwnership {
        nonce,
        booked_at: SystemTime::UNIX_EPOCH + Duration::from_millis(millis),
    }))
}

/// Bounds on waiting for Redis: a booking rush must fail fast with 503 rather than pile up
/// requests behind a dead connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// How to reach Redis beyond its URL (which carries TLS, `rediss://`, and AUTH, `user:pass@`).
#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub timeouts: RedisTimeouts,
    /// PEM roots replacing the public webpki roots for `rediss://` (a private CA).
    pub ca_pem: Option<Vec<u8>>,
    /// Replicas that must acknowledge a booking or cancel before it is confirmed.
    pub wait: ReplicaWait,
    /// A booking record expires this many days after its date.
    pub retention_days: u32,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeouts: RedisTimeouts::default(),
            ca_pem: None,
            wait: ReplicaWait::default(),
            retention_days: DEFAULT_BOOKING_RETENTION_DAYS,
        }
    }
}

/// One multiplexed connection per container, shared by every invocation. It connects lazily
/// (a cold start with Redis down still answers 503 instead of failing init) and reconnects by
/// itself after Redis restarts (see `connection`).
#[derive(Clone)]
pub struct RedisStore {
    connection: Arc<SharedConnection>,
    wait: ReplicaWait,
    retention_days: u32,
}

impl RedisStore {
    pub fn connect(url: &str, timeouts: RedisTimeouts) -> Result<Self, StoreError> {
        Self::connect_with(
            url,
            RedisOptions {
                timeouts,
                ..RedisOptions::default()
            },
        )
    }

    pub fn connect_with(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        if url.starts_with("rediss://") || options.ca_pem.is_some() {
            install_crypto_provider();
        }
        let client = match &options.ca_pem {
            None => redis::Client::open(url),
            Some(pem) => redis::Client::build_with_tls(
                url,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
        }
        .map_err(|e| StoreError::Unavailable(format!("invalid Redis URL: {e}")))?;
        let timeouts = options.timeouts;
        // A booking's reply waits for WAIT too, so the response timeout covers it.
        let response = if options.wait.replicas > 0 {
            timeouts.response + options.wait.timeout
        } else {
            timeouts.response
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(response))
            // Few, short retries: a waiting request is worse than a quick 503 the client retries.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let connection = Arc::new(
            SharedConnection::new(client, config)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?,
        );
        // Connect now, in the background, while the runtime starts (Lambda's init phase runs
        // at full CPU): the first request then finds the connection ready instead of paying
        // for it. Still lazy in effect: with Redis down, start-up goes on and requests get 503.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut warm = connection.handle();
            let store = Self {
                connection: Arc::clone(&connection),
                wait: options.wait,
                retention_days: options.retention_days,
            };
            runtime.spawn(async move {
                let _ = redis::cmd("PING").query_async::<String>(&mut warm).await;
                // Once per container: an operator must see an evicting Redis before it loses data.
                if let Err(error) = store.check_eviction_policy().await {
                    tracing::warn!(%error, "could not read Redis's maxmemory-policy");
                }
            });
        }
        Ok(Self {
            connection,
            wait: options.wait,
            retention_days: options.retention_days,
        })
    }

    /// Reads `maxmemory-policy` through `INFO memory` (managed Redis often refuses `CONFIG`).
    /// Under any policy but `noeviction`, Redis may evict `booking:*` keys (every policy once
    /// keys carry a TTL, as bookings do): logs one ERROR, counts it, and returns the policy.
    pub async fn check_eviction_policy(&self) -> Result<Option<String>, StoreError> {
        let mut connection = self.reconnecting();
        let info: String = store_call(
            "info_memory",
            redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        let policy = info
            .lines()
            .find_map(|line| line.trim().strip_prefix("maxmemory_policy:"))
            .ok_or_else(|| {
                StoreError::UnexpectedReply("INFO memory lacks maxmemory_policy".into())
            })?;
        if policy == "noeviction" {
            return Ok(None);
        }
        tracing::error!(
            maxmemory_policy = policy,
            "Redis may evict keys under memory pressure, and with them bookings: set \
             maxmemory-policy to noeviction"
        );
        service_metrics::redis_evicting_policy();
        Ok(Some(policy.to_owned()))
    }

    /// The store the environment names (`REDIS_URL`, `REDIS_CA_FILE`, `REDIS_WAIT_*`), with
    /// production timeouts: what every function's `main` needs. Fails naming the variable when
    /// a setting is invalid.
    pub fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_env()?;
        Ok(Self::connect_with(
            config.redis_url.expose_secret(),
            RedisOptions {
                timeouts: RedisTimeouts::default(),
                ca_pem: config.redis_ca_pem,
                wait: config.redis_wait,
                retention_days: config.booking_retention_days,
            },
        )?)
    }

    /// Runs a script that changes bookings. With replicas to wait for, `WAIT` follows it in
    /// the same round trip (pipelined on the one connection, so it covers this script's writes)
    /// and the number of replicas that acknowledged comes back too.
    async fn invoke_replicated<T: FromRedisValue>(
        &self,
        operation: &'static str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<(T, Option<u32>), StoreError> {
        let mut connection = self.reconnecting();
        if self.wait.replicas == 0 {
            let reply = store_call(operation, invocation.invoke_async(&mut connection))
                .await
                .map_err(unavailable)?;
            return Ok((reply, None));
        }
        let mut pipe = redis::pipe();
        pipe.invoke_script(invocation)
            .cmd("WAIT")
            .arg(self.wait.replicas)
            .arg(u64::try_from(self.wait.timeout.as_millis()).unwrap_or(u64::MAX));
        let mut result: RedisResult<(T, u32)> =
            store_call(operation, pipe.query_async(&mut connection)).await;
        // A pipeline sends EVALSHA without loading the script first (a new or restarted Redis).
        if matches!(&result, Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript)) {
            invocation
                .load_async(&mut connection)
                .await
                .map_err(unavailable)?;
            result = store_call(operation, pipe.query_async(&mut connection)).await;
        }
        let (reply, acked) = result.map_err(unavailable)?;
        Ok((reply, Some(acked)))
    }

    /// A change is confirmed only once the replicas asked for acknowledged it; short of that,
    /// nothing is confirmed and the identical request is safe to repeat.
    fn confirm_replicated(&self, acked: Option<u32>) -> Result<(), StoreError> {
        match acked {
            Some(acked) if acked < self.wait.replicas => Err(StoreError::Unavailable(format!(
                "{acked} of {} replicas acknowledged within {:?}",
                self.wait.replicas, self.wait.timeout
            ))),
            _ => Ok(()),
        }
    }

    /// Personal data is kept `retention_days` after the booking's date; a date already past
    /// (a late or test booking) counts from now, so a record never expires the moment it is
    /// written.
    fn booking_expires_at(&self, booking: &Booking) -> i64 {
        let retention = i64::from(self.retention_days) * 86_400;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        booking.date.ends_at_unix().max(now) + retention
    }

    fn reconnecting(&self) -> Reconnecting {
        self.connection.handle()
    }

    /// The connection, for tests and tools that inspect the data model directly.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.manager()
    }
}

/// How often a cancel reads the booking again when it changed between the read and the script.
const CANCEL_ATTEMPTS: usize = 3;

/// Where a stored booking is held, all the migration needs of it.
#[derive(serde::Deserialize)]
struct BookingPlace {
    location: String,
    date: String,
}

/// rustls needs one process-wide crypto provider, and the AWS SDK links a second one, so it
/// will not pick by itself: ring, as the Kafka adapter uses. Installing twice is harmless.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// A station's hash (date -> remaining) as slots.
fn station_slots(location: &Location, raw: Vec<(String, i64)>) -> Result<Vec<Slot>, StoreError> {
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

/// A stored booking back into its value type, without re-applying today's field rules (see
/// `Booking::from_stored`); only this code writes them, so a failure means the data was edited
/// by hand.
fn stored_booking(json: &str) -> Result<Booking, StoreError> {
    // serde's message can quote the offending value (a name, a phone number): keep only
    // what kind of error and where, since this message reaches the logs.
    let request: BookingRequest = serde_json::from_str(json).map_err(|e| {
        StoreError::UnexpectedReply(format!(
            "stored booking: {:?} error at column {}",
            e.classify(),
            e.column()
        ))
    })?;
    Booking::from_stored(request)
        .map_err(|e| StoreError::UnexpectedReply(format!("stored booking: {e}")))
}

#[async_trait]
impl SlotStore for RedisStore {
    async fn station_slots(&self, location: &Location) -> Result<Vec<Slot>, StoreError> {
        let mut connection = self.reconnecting();
        let raw: Vec<(String, i64)> =
            store_call("station_slots", connection.hgetall(slots_key(location)))
                .await
                .map_err(unavailable)?;
        station_slots(location, raw)
    }

    /// Two round trips whatever the number of stations: the `stations` set, then every
    /// station's hash in one pipeline. Each HGETALL names one station's own key, so on Redis
    /// Cluster the client splits the pipeline by node and no script spans hash slots.
    async fn all_slots(&self) -> Result<Vec<Slot>, StoreError> {
        let mut connection = self.reconnecting();
        let members: Vec<String> = store_call("stations", connection.smembers(STATIONS_KEY))
            .await
            .map_err(unavailable)?;
        let locations = members
            .iter()
            .map(|member| {
                Location::parse(member)
                    .map_err(|e| StoreError::UnexpectedReply(format!("{STATIONS_KEY}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if locations.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        for location in &locations {
            pipeline.hgetall(slots_key(location));
        }
        let hashes: Vec<Vec<(String, i64)>> =
            store_call("all_station_slots", pipeline.query_async(&mut connection))
                .await
                .map_err(unavailable)?;
        let mut slots = Vec::new();
        for (location, raw) in locations.iter().zip(hashes) {
            slots.extend(station_slots(location, raw)?);
        }
        Ok(slots)
    }

    async fn book(
        &self,
        booking: &Booking,
        event: &EventRecord,
        ownership: &BookingOwnership,
    ) -> Result<BookingOutcome, StoreError> {
        let mut invocation = BOOK.prepare_invoke();
        invocation
            .key(slots_key(&booking.location))
            .key(booking_key(&booking.mysejahtera_id))
            .key(OUTBOX_KEY)
            .key(booking_owner_key(&booking.mysejahtera_id))
            .key(held_key(&booking.location))
            .key(capacity_key(&booking.location))
            .key(event_sequence_key(&booking.mysejahtera_id))
            .arg(booking.date.to_string())
            .arg(booking.to_json())
            .arg(&event.key)
            .arg(&event.payload)
            .arg(ownership.nonce.to_hex())
            .arg(unix_millis(ownership.booked_at))
            .arg(self.booking_expires_at(booking));
        // The one round trip a booking makes: its span and latency are the booking's cost.
        let (reply, acked): (Vec<String>, _) = self.invoke_replicated("book", &invocation).await?;
        if matches!(
            reply.first().map(String::as_str),
            Some("created" | "already_held")
        ) {
            self.confirm_replicated(acked)?;
        }
        match reply.as_slice() {
            [outcome, outbox_id, sequence] if outcome == "created" => Ok(BookingOutcome::Created {
                outbox_id: outbox_id.clone(),
                sequence: parse_sequence(sequence)?,
            }),
            [outcome, nonce, booked_at] if outcome == "already_held" => {
                Ok(BookingOutcome::AlreadyHeld {
                    ownership: stored_ownership(Some(nonce), Some(booked_at))?,
                })
            }
            [outcome] => match outcome.as_str() {
                "already_booked" => Ok(BookingOutcome::AlreadyBooked),
                "fully_booked" => Ok(BookingOutcome::FullyBooked),
                "unknown_station" => Ok(BookingOutcome::UnknownStation),
                "unknown_date" => Ok(BookingOutcome::UnknownDate),
                other => Err(StoreError::UnexpectedReply(format!(
                    "booking script said {other:?}"
                ))),
            },
            other => Err(StoreError::UnexpectedReply(format!(
                "booking script said {other:?}"
            ))),
        }
    }

    async fn find_booking(&self, id: &MySejahteraId) -> Result<Option<HeldBooking>, StoreError> {
        let mut connection = self.reconnecting();
        // MULTI/EXEC: the booking and its owner record as of one moment, in one round trip.
        let (stored, (nonce, booked_at)): (Option<String>, (Option<String>, Option<String>)) =
            store_call(
                "find_booking",
                redis::pipe()
                    .atomic()
                    .get(booking_key(id))
                    .hmget(booking_owner_key(id), &["nonce", "bookedAt"])
                    .query_async(&mut connection),
            )
            .await
            .map_err(unavailable)?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        Ok(Some(HeldBooking {
            booking: stored_booking(&stored)?,
            ownership: stored_ownership(nonce.as_deref(), booked_at.as_deref())?,
        }))
    }

    async fn cancel(
        &self,
        id: &MySejahteraId,
        stamp: &EventStamp,
        nonce: &ReferenceNonce,
    ) -> Result<Option<Cancelled>, StoreError> {
        // The script must declare the station's keys, known only from the booking: read it
        // first, then the script re-checks that it still names that station and date. A booking
        // that changed in between (cancelled and booked again elsewhere) is read again.
        for _ in 0..CANCEL_ATTEMPTS {
            let Some(HeldBooking { booking, .. }) = self.find_booking(id).await? else {
                return Ok(None);
            };
            let mut invocation = CANCEL.prepare_invoke();
            invocation
                .key(booking_key(id))
                .key(OUTBOX_KEY)
                .key(booking_owner_key(id))
                .key(slots_key(&booking.location))
                .key(capacity_key(&booking.location))
                .key(held_key(&booking.location))
                .key(event_sequence_key(id))
                .arg(booking.location.as_str())
                .arg(booking.date.to_string())
                .arg(&stamp.event_id)
                .arg(&stamp.occurred_at)
                .arg(id.as_str())
                .arg(nonce.to_hex());
            let (reply, acked): (Option<Vec<String>>, _) =
                self.invoke_replicated("cancel", &invocation).await?;
            match reply.as_deref() {
                None => return Ok(None),
                Some([moved]) if moved == "moved" => continue,
                Some([held, outbox_id, sequence]) => {
                    self.confirm_replicated(acked)?;
                    return Ok(Some(Cancelled {
                        booking: stored_booking(held)?,
                        outbox_id: outbox_id.clone(),
                        sequence: parse_sequence(sequence)?,
                    }));
                }
                Some(other) => {
                    return Err(StoreError::UnexpectedReply(format!(
                        "cancel script said {other:?}"
                    )));
                }
            }
        }
        Err(StoreError::Unavailable(
            "the booking kept changing while it was being cancelled".into(),
        ))
    }

    async fn seed_station(
        &self,
        plan: &StationPlan,
        reset: bool,
    ) -> Result<StationSeeded, StoreError> {
        let mut connection = self.reconnecting();
        let mut invocation = SEED.prepare_invoke();
        invocation
            .key(slots_key(&plan.location))
            .key(capacity_key(&plan.location))
            .key(STATIONS_KEY)
            .key(held_key(&plan.location))
            .arg(plan.location.as_str())
            .arg(plan.daily_capacity)
            .arg(if reset { "1" } else { "0" });
        for date in &plan.dates {
            invocation.arg(date.to_string());
        }
        let (dates_written, dates_skipped, dates_unmigrated): (u32, u32, u32) =
            store_call("seed_station", invocation.invoke_async(&mut connection))
                .await
                .map_err(unavailable)?;
        Ok(StationSeeded {
            dates_written,
            dates_skipped,
            dates_unmigrated,
        })
    }

    async fn migrate_held_counts(&self) -> Result<HeldMigrated, StoreError> {
        let mut connection = self.reconnecting();
        let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut report = HeldMigrated::default();
        let keys: Vec<String> = {
            let mut iter = connection
                .scan_match::<_, String>("booking:*")
                .await
                .map_err(unavailable)?;
            let mut keys = Vec::new();
            while let Some(key) = iter.next_item().await {
                keys.push(key.map_err(unavailable)?);
            }
            keys
        };
        for chunk in keys.chunks(500) {
            let stored: Vec<Option<String>> = connection.mget(chunk).await.map_err(unavailable)?;
            // Only where the booking is counted matters; a record that vanished meanwhile
            // (cancelled, expired) is not held.
            for json in stored.into_iter().flatten() {
                let place: BookingPlace = serde_json::from_str(&json).map_err(|e| {
                    StoreError::UnexpectedReply(format!("stored booking: {:?}", e.classify()))
                })?;
                *counts
                    .entry(place.location)
                    .or_default()
                    .entry(place.date)
                    .or_default() += 1;
                report.bookings_counted += 1;
            }
        }
        let mut locations: BTreeSet<String> = connection
            .smembers(STATIONS_KEY)
            .await
            .map_err(unavailable)?;
        locations.extend(counts.keys().cloned());
        for raw in locations {
            let location = Location::parse(&raw)
                .map_err(|e| StoreError::UnexpectedReply(format!("station {raw:?}: {e}")))?;
            let mut invocation = MIGRATE_HELD.prepare_invoke();
            invocation
                .key(slots_key(&location))
                .key(capacity_key(&location))
                .key(held_key(&location));
            for (date, count) in counts.get(&raw).into_iter().flatten() {
                invocation.arg(date).arg(count);
            }
            let migrated: u32 =
                store_call("migrate_held", invocation.invoke_async(&mut connection))
                    .await
                    .map_err(unavailable)?;
            report.dates_migrated += migrated;
        }
        Ok(report)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.reconnecting();
        store_call(
            "ping",
            redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await
        .map(drop)
        .map_err(unavailable)
    }
}

#[async_trait]
impl Outbox for RedisStore {
    async fn oldest(
        &self,
        limit: usize,
        min_age: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut connection = self.reconnecting();
        let raw: Vec<(String, HashMap<String, String>)> = store_call(
            "outbox_oldest",
            OUTBOX_OLDEST
                .key(OUTBOX_KEY)
                .arg(u64::try_from(min_age.as_millis()).unwrap_or(u64::MAX))
                .arg(limit)
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        raw.into_iter()
            .map(
                |(id, mut fields)| match (fields.remove("key"), fields.remove("event")) {
                    (Some(key), Some(payload)) => Ok(OutboxEntry {
                        id,
                        record: EventRecord { key, payload },
                    }),
                    _ => Err(StoreError::UnexpectedReply(format!(
                        "outbox entry {id} lacks key or event"
                    ))),
                },
            )
            .collect()
    }

    async fn remove(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut connection = self.reconnecting();
        store_call(
            "outbox_remove",
            connection.xdel::<_, _, ()>(OUTBOX_KEY, ids),
        )
        .await
        .map_err(unavailable)
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        let mut connection = self.reconnecting();
        store_call("outbox_depth", connection.xlen(OUTBOX_KEY))
            .await
            .map_err(unavailable)
    }

    async fn acquire_relay_lease(&self, ttl: Duration) -> Result<Option<String>, StoreError> {
        let mut connection = self.reconnecting();
        let token = uuid::Uuid::new_v4().to_string();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(RELAY_LEASE_KEY)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        // Durability: the lease is written after every outbox entry the relay will read, and
        // replication keeps order, so once replicas acknowledged the lease they hold those
        // entries' bookings too: the relay never publishes a booking a failover could lose.
        if self.wait.replicas > 0 {
            pipe.cmd("WAIT")
                .arg(self.wait.replicas)
                .arg(u64::try_from(self.wait.timeout.as_millis()).unwrap_or(u64::MAX));
        }
        let reply: Vec<redis::Value> =
            store_call("acquire_relay_lease", pipe.query_async(&mut connection))
                .await
                .map_err(unavailable)?;
        if matches!(reply.first(), None | Some(redis::Value::Nil)) {
            return Ok(None);
        }
        let acked = match reply.get(1) {
            Some(redis::Value::Int(acked)) => Some(u32::try_from(*acked).unwrap_or(0)),
            _ => None,
        };
        if let Err(error) = self.confirm_replicated(acked) {
            self.release_relay_lease(&token).await?;
            return Err(error);
        }
        Ok(Some(token))
    }

    async fn release_relay_lease(&self, token: &str) -> Result<(), StoreError> {
        let mut connection = self.reconnecting();
        store_call(
            "release_relay_lease",
            RELEASE_LEASE
                .key(RELAY_LEASE_KEY)
                .arg(token)
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
        .map_err(unavailable)
    }

    async fn renew_relay_lease(&self, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut connection = self.reconnecting();
        let renewed: i64 = store_call(
            "renew_relay_lease",
            RENEW_LEASE
                .key(RELAY_LEASE_KEY)
                .arg(token)
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        Ok(renewed == 1)
    }
}
