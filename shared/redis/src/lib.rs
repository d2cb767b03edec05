//! The Redis store. The same keys on a single Redis and on a Redis Cluster; braces are hash
//! tags, so every script's keys share one hash slot. Data model (documented for operators in
//! the README):
//! - `slots:{L}`      hash, date (YYYYMMDD) -> remaining slots; one station in one read
//! - `capacity:{L}`   hash, date -> daily capacity
//! - `held:{L}`       hash, date -> bookings held; remaining = max(capacity - held, 0), so a
//!   reset never re-opens booked slots
//! - `holders:{L}`    hash, person ID -> `holdId|date`: who holds a slot at the station
//! - `unsettled:{L}`  sorted set, person ID -> Unix ms: holds whose person side is not known to
//!   be settled yet (cluster protocol), the reconciler's work list
//! - `booking:{p:NNN}:ID`  string, the person's one booking as canonical JSON
//! - `booking-owner:{p:NNN}:ID` hash, `nonce` (32 hex digits), `bookedAt` (Unix ms) and
//!   `holdId` of that booking: its reference is derived from the nonce with a key Redis never sees
//! - `event-seq:{p:NNN}:ID` counter, the sequence of the person's last event (never deleted)
//! - `claim:{p:NNN}:ID`    hash, the person's booking attempt in progress (cluster protocol)
//! - `outbox:{p:NNN}` stream per person bucket of events not yet acknowledged by the broker
//!   (fields `key`, `event`), appended by the same script that changes the booking
//! - `stations`       set of every seeded location
//! - `outbox:relay-lease`  string, held by the one relay that runs
//! - `queue:{room}:...`    the waiting room (see [`queue`])
//!
//! L is the location, NNN the person's bucket ([`person_bucket`]). Identifiers in keys are
//! restricted by the domain types to `[A-Za-z0-9_-]`, so user input can never address another
//! key.

/// A script assembled from shared Lua function files and the script that uses them, in that
/// order, after `#!lua`: Redis (7+) then checks memory once before the script runs, so a script
/// that writes runs whole or not at all. Defined before the submodules so they can use it.
macro_rules! composed_script {
    ($($part:literal),+ $(,)?) => {
        LazyLock::new(|| Script::new(concat!("#!lua\n", $(include_str!($part)),+)))
    };
}

pub mod config;
mod connection;
pub mod protocol;
pub mod queue;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::ConnectionManagerConfig;
use redis::{
    AsyncCommands, ErrorKind, FromRedisValue, RedisResult, Script, ScriptInvocation,
    ServerErrorKind, TlsCertificates,
};
use secrecy::ExposeSecret;

pub use self::connection::StoreConnection;
use self::connection::{Reconnecting, SharedConnection};
use crate::config::{DEFAULT_BOOKING_RETENTION_DAYS, RedisConfig, ReplicaWait};
use booking_core::domain::{
    Booking, BookingOwnership, BookingRequest, EventRecord, EventStamp, Location, MySejahteraId,
    ReferenceNonce, Slot, SlotDate,
};
use booking_core::ports::{
    BookingOutcome, Cancelled, Clock, HeldBooking, HeldMigrated, Outbox, OutboxEntry, SlotStore,
    StationPlan, StationSeeded, StoreError, SystemClock,
};
use booking_core::service_metrics;
use booking_core::service_metrics::store_call;

static BOOK: LazyLock<Script> = composed_script!("take_slot.lua", "record_booking.lua", "book.lua");
static SEED: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("seed.lua")));
static CANCEL: LazyLock<Script> =
    composed_script!("remove_booking.lua", "give_back_slot.lua", "cancel.lua");
static MIGRATE_HELD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("migrate_held.lua")));
static RELEASE_LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("release_lease.lua")));
static RENEW_LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("renew_lease.lua")));

pub const STATIONS_KEY: &str = "stations";
/// The one outbox stream of the releases before per-bucket streams: the relay still drains it,
/// so nothing written there before an upgrade is lost.
pub const LEGACY_OUTBOX_KEY: &str = "outbox:booking-events";
pub const RELAY_LEASE_KEY: &str = "outbox:relay-lease";

/// How many person buckets (and so outbox streams) there are. Part of the data layout: never
/// change it on live data.
pub const PERSON_BUCKETS: u16 = 256;

/// The person's bucket: the first byte of SHA-256 of the ID (so 0..=255). Part of the data
/// layout: never change it on live data.
pub fn person_bucket(id: &MySejahteraId) -> u16 {
    use sha2::Digest;
    u16::from(sha2::Sha256::digest(id.as_str().as_bytes())[0])
}

/// The hash tag of a person bucket: every key of the person, and the bucket's outbox stream,
/// live in the one hash slot it names.
fn bucket_tag(bucket: u16) -> String {
    format!("{{p:{bucket:03}}}")
}

fn person_key(kind: &str, id: &MySejahteraId) -> String {
    format!("{kind}:{}:{}", bucket_tag(person_bucket(id)), id.as_str())
}

pub fn slots_key(location: &Location) -> String {
    format!("slots:{{{location}}}")
}

pub fn capacity_key(location: &Location) -> String {
    format!("capacity:{{{location}}}")
}

pub fn held_key(location: &Location) -> String {
    format!("held:{{{location}}}")
}

/// Hash person ID -> `<holdId>|<date>`: who holds a slot at the station.
pub fn holders_key(location: &Location) -> String {
    format!("holders:{{{location}}}")
}

/// Sorted set person ID -> when (Unix ms) their hold started or their cancel began: holds whose
/// person side is not known to be settled yet, the reconciler's work list.
pub fn unsettled_key(location: &Location) -> String {
    format!("unsettled:{{{location}}}")
}

pub fn booking_key(id: &MySejahteraId) -> String {
    person_key("booking", id)
}

/// The person's event counter: never deleted, so a rebooking's events continue the numbering.
pub fn event_sequence_key(id: &MySejahteraId) -> String {
    person_key("event-seq", id)
}

/// The person's booking in progress (cluster protocol): hash holdId, location, date, booking,
/// startedAt; expires after the claim TTL.
pub fn claim_key(id: &MySejahteraId) -> String {
    person_key("claim", id)
}

/// The outbox stream of one person bucket.
pub fn outbox_key(bucket: u16) -> String {
    format!("outbox:{}", bucket_tag(bucket))
}

/// The outbox stream of the person's bucket: all their events, in order, in one stream.
pub fn person_outbox_key(id: &MySejahteraId) -> String {
    outbox_key(person_bucket(id))
}

fn parse_sequence(reply: &str) -> Result<u64, StoreError> {
    reply
        .parse()
        .map_err(|_| StoreError::UnexpectedReply(format!("event sequence {reply:?}")))
}

pub fn booking_owner_key(id: &MySejahteraId) -> String {
    person_key("booking-owner", id)
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
    /// The URL is a Redis Cluster's configuration endpoint (`REDIS_CLUSTER=true`).
    pub cluster: bool,
    /// How long a booking attempt's claim lives (cluster protocol, see [`protocol`]).
    pub claim_ttl: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeouts: RedisTimeouts::default(),
            ca_pem: None,
            wait: ReplicaWait::default(),
            retention_days: DEFAULT_BOOKING_RETENTION_DAYS,
            cluster: false,
            claim_ttl: protocol::CLAIM_TTL,
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
    cluster: bool,
    claim_ttl: Duration,
    /// Stamps claims and holds; the reconciler judges their age by it.
    clock: Arc<dyn Clock>,
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
        let timeouts = options.timeouts;
        // A booking's reply waits for WAIT too, so the response timeout covers it.
        let response = if options.wait.replicas > 0 {
            timeouts.response + options.wait.timeout
        } else {
            timeouts.response
        };
        let connection = Arc::new(if options.cluster {
            cluster_connection(url, options.ca_pem.as_ref(), timeouts.connect, response)?
        } else {
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
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeouts.connect))
                .set_response_timeout(Some(response))
                // Few, short retries: a waiting request is worse than a quick 503 the client
                // retries.
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(200));
            SharedConnection::new(client, config)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
        });
        let store = Self {
            connection,
            wait: options.wait,
            retention_days: options.retention_days,
            cluster: options.cluster,
            claim_ttl: options.claim_ttl,
            clock: Arc::new(SystemClock),
        };
        // Connect now, in the background, while the runtime starts (Lambda's init phase runs
        // at full CPU): the first request then finds the connection ready instead of paying
        // for it. Still lazy in effect: with Redis down, start-up goes on and requests get 503.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut warm = store.connection.handle();
            let store = store.clone();
            runtime.spawn(async move {
                let _ = redis::cmd("PING").query_async::<String>(&mut warm).await;
                // Once per container: an operator must see an evicting Redis before it loses data.
                if let Err(error) = store.check_eviction_policy().await {
                    tracing::warn!(%error, "could not read Redis's maxmemory-policy");
                }
            });
        }
        Ok(store)
    }

    /// Another time source for claims and holds (tests move it past the claim TTL).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether this store speaks the Redis Cluster protocol.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Reads `maxmemory-policy` through `INFO memory` (managed Redis often refuses `CONFIG`).
    /// Under any policy but `noeviction`, Redis may evict `booking:*` keys (every policy once
    /// keys carry a TTL, as bookings do): logs one ERROR, counts it, and returns the policy.
    pub async fn check_eviction_policy(&self) -> Result<Option<String>, StoreError> {
        let mut connection = self.reconnecting();
        let info: String = if self.cluster {
            // One answer per primary: every one of them must keep every key.
            let per_node: HashMap<String, String> = store_call(
                "info_memory",
                redis::cmd("INFO")
                    .arg("memory")
                    .query_async(&mut connection),
            )
            .await
            .map_err(unavailable)?;
            per_node.into_values().collect::<Vec<_>>().join("\n")
        } else {
            store_call(
                "info_memory",
                redis::cmd("INFO")
                    .arg("memory")
                    .query_async(&mut connection),
            )
            .await
            .map_err(unavailable)?
        };
        let mut policies = info
            .lines()
            .filter_map(|line| line.trim().strip_prefix("maxmemory_policy:"))
            .peekable();
        if policies.peek().is_none() {
            return Err(StoreError::UnexpectedReply(
                "INFO memory lacks maxmemory_policy".into(),
            ));
        }
        let Some(policy) = policies.find(|policy| *policy != "noeviction") else {
            return Ok(None);
        };
        tracing::error!(
            maxmemory_policy = policy,
            "Redis may evict keys under memory pressure, and with them bookings: set \
             maxmemory-policy to noeviction"
        );
        service_metrics::redis_evicting_policy();
        Ok(Some(policy.to_owned()))
    }

    /// The store the settings name (see [`config`]), with production timeouts: what every
    /// function's builder makes.
    pub fn from_config(config: RedisConfig) -> Result<Self, StoreError> {
        Self::connect_with(
            config.redis_url.expose_secret(),
            RedisOptions {
                timeouts: config.timeouts,
                ca_pem: config.redis_ca_pem,
                wait: config.redis_wait,
                retention_days: config.booking_retention_days,
                cluster: config.redis_cluster,
                claim_ttl: protocol::CLAIM_TTL,
            },
        )
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
    pub fn connection(&self) -> StoreConnection {
        self.connection.manager()
    }
}

/// Every key matching `pattern` that has no hash tag yet (the layout before hash tags).
async fn untagged_keys(
    connection: &mut Reconnecting,
    pattern: &str,
) -> Result<Vec<String>, StoreError> {
    let mut iter = connection
        .scan_match::<_, String>(pattern)
        .await
        .map_err(unavailable)?;
    let mut keys = Vec::new();
    while let Some(key) = iter.next_item().await {
        let key = key.map_err(unavailable)?;
        if !key.contains('{') {
            keys.push(key);
        }
    }
    Ok(keys)
}

impl RedisStore {
    /// One-off, single Redis: renames the keys of the layout before hash tags (`slots:PWTC`,
    /// `booking:ID`, ...) to their tagged names, and records each renamed booking in its
    /// station's `holders` (holdId `migrated`, as in its owner record) so it cancels like any
    /// other. A key whose new name exists already is left alone. Owner records and counters
    /// first, so recording a booking's holdId never creates the owner key a rename needs free.
    async fn migrate_key_layout(&self) -> Result<u64, StoreError> {
        const MIGRATED_HOLD: &str = "migrated";
        let mut connection = self.reconnecting();
        let mut renamed = 0;
        let invalid = |key: &str| StoreError::UnexpectedReply(format!("cannot migrate {key:?}"));
        for (kind, tagged) in [
            ("slots", slots_key as fn(&Location) -> String),
            ("capacity", capacity_key),
            ("held", held_key),
        ] {
            for key in untagged_keys(&mut connection, &format!("{kind}:*")).await? {
                let location = key
                    .strip_prefix(kind)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .and_then(|raw| Location::parse(raw).ok())
                    .ok_or_else(|| invalid(&key))?;
                let done: bool = connection
                    .rename_nx(&key, tagged(&location))
                    .await
                    .map_err(unavailable)?;
                renamed += u64::from(done);
            }
        }
        for kind in ["booking-owner", "event-seq", "booking"] {
            for key in untagged_keys(&mut connection, &format!("{kind}:*")).await? {
                let id = key
                    .strip_prefix(kind)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .and_then(|raw| MySejahteraId::parse(raw).ok())
                    .ok_or_else(|| invalid(&key))?;
                let new_key = person_key(kind, &id);
                let done: bool = connection
                    .rename_nx(&key, &new_key)
                    .await
                    .map_err(unavailable)?;
                renamed += u64::from(done);
                if done && kind == "booking" {
                    let json: String = connection.get(&new_key).await.map_err(unavailable)?;
                    let place: BookingPlace =
                        serde_json::from_str(&json).map_err(|_| invalid(&new_key))?;
                    let location = Location::parse(&place.location).map_err(|_| invalid(&key))?;
                    let hold = format!("{MIGRATED_HOLD}|{}", place.date);
                    let mut pipe = redis::pipe();
                    pipe.hset_nx(holders_key(&location), id.as_str(), hold)
                        .hset_nx(booking_owner_key(&id), "holdId", MIGRATED_HOLD);
                    let _: () = pipe
                        .query_async(&mut connection)
                        .await
                        .map_err(unavailable)?;
                }
            }
        }
        Ok(renamed)
    }
}

impl RedisStore {
    /// `command` (`HGETALL`, `HVALS`) of every station's `slots:{L}`: one pipeline on a single
    /// Redis; on a cluster, where a pipeline goes to one node, one command per station, all sent
    /// at once (the client routes each to its shard).
    async fn per_station<T: FromRedisValue + Send + 'static>(
        &self,
        operation: &'static str,
        command: &'static str,
        locations: &[Location],
    ) -> Result<Vec<T>, StoreError> {
        if self.cluster {
            let reads = locations.iter().map(|location| {
                let mut connection = self.reconnecting();
                async move {
                    redis::cmd(command)
                        .arg(slots_key(location))
                        .query_async::<T>(&mut connection)
                        .await
                }
            });
            return store_call(operation, futures::future::try_join_all(reads))
                .await
                .map_err(unavailable);
        }
        let mut connection = self.reconnecting();
        let mut pipeline = redis::pipe();
        for location in locations {
            pipeline.cmd(command).arg(slots_key(location));
        }
        store_call(operation, pipeline.query_async(&mut connection))
            .await
            .map_err(unavailable)
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

/// The outbox entry id the use cases see: the stream's name within the outbox (the bucket's
/// three digits, or `legacy`), a slash, and the stream's own entry id.
fn outbox_entry_id(bucket: u16, stream_id: &str) -> String {
    format!("{bucket:03}/{stream_id}")
}

const LEGACY_STREAM: &str = "legacy";

/// Every outbox stream: its name within outbox entry ids, and its key.
fn outbox_streams() -> impl Iterator<Item = (String, String)> {
    (0..PERSON_BUCKETS)
        .map(|bucket| (format!("{bucket:03}"), outbox_key(bucket)))
        .chain(std::iter::once((
            LEGACY_STREAM.to_owned(),
            LEGACY_OUTBOX_KEY.to_owned(),
        )))
}

/// The stream key and stream entry id an outbox entry id names.
fn outbox_entry_location(id: &str) -> Result<(String, &str), StoreError> {
    let unknown = || StoreError::UnexpectedReply(format!("not an outbox entry id: {id:?}"));
    let (stream, stream_id) = id.split_once('/').ok_or_else(unknown)?;
    if stream == LEGACY_STREAM {
        return Ok((LEGACY_OUTBOX_KEY.to_owned(), stream_id));
    }
    let bucket: u16 = stream.parse().map_err(|_| unknown())?;
    if bucket >= PERSON_BUCKETS {
        return Err(unknown());
    }
    Ok((outbox_key(bucket), stream_id))
}

/// A stream entry id (`ms-seq`) as a sortable pair.
fn stream_id_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(u64::MAX), seq.parse().unwrap_or(0))
}

/// rustls needs one process-wide crypto provider, and the AWS SDK links a second one, so it
/// will not pick by itself: ring, as the Kafka adapter uses. Installing twice is harmless.
/// The cluster client, built once per container: it learns the slot map from the configuration
/// endpoint and follows MOVED/ASK redirections and failovers. TLS and AUTH come from the URL as
/// for a single Redis.
fn cluster_connection(
    url: &str,
    ca_pem: Option<&Vec<u8>>,
    connect: Duration,
    response: Duration,
) -> Result<SharedConnection, StoreError> {
    let mut builder = redis::cluster::ClusterClientBuilder::new(vec![url])
        .connection_timeout(connect)
        .response_timeout(response)
        // Redirections during a resharding or failover are retried, briefly: a waiting request
        // is worse than a quick 503 the client retries.
        .retries(4)
        .min_retry_wait(20)
        .max_retry_wait(200);
    if let Some(pem) = ca_pem {
        builder = builder.certs(TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        });
    }
    let client = builder
        .build()
        .map_err(|e| StoreError::Unavailable(format!("invalid Redis URL: {e}")))?;
    let config = redis::cluster::ClusterConfig::new()
        .set_connection_timeout(connect)
        .set_response_timeout(response);
    Ok(SharedConnection::cluster(client, config))
}

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

/// What a booking script (book.lua, claim.lua, confirm.lua) said, as an outcome; `created`
/// carries an entry of the person's outbox stream.
fn booking_outcome(
    id: &MySejahteraId,
    reply: &[String],
    script: &str,
) -> Result<BookingOutcome, StoreError> {
    match reply {
        [outcome, stream_id, sequence] if outcome == "created" => Ok(BookingOutcome::Created {
            outbox_id: outbox_entry_id(person_bucket(id), stream_id),
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
            "in_progress" => Ok(BookingOutcome::InProgress),
            other => Err(StoreError::UnexpectedReply(format!(
                "{script} said {other:?}"
            ))),
        },
        other => Err(StoreError::UnexpectedReply(format!(
            "{script} said {other:?}"
        ))),
    }
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
    /// station's hash in one pipeline (on a cluster, one read per station, sent at once).
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
        let hashes: Vec<Vec<(String, i64)>> = self
            .per_station("all_station_slots", "HGETALL", &locations)
            .await?;
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
        if self.cluster {
            return self.book_in_steps(booking, event, ownership).await;
        }
        let id = &booking.mysejahtera_id;
        let mut invocation = BOOK.prepare_invoke();
        invocation
            .key(slots_key(&booking.location))
            .key(booking_key(id))
            .key(person_outbox_key(id))
            .key(booking_owner_key(id))
            .key(held_key(&booking.location))
            .key(capacity_key(&booking.location))
            .key(event_sequence_key(id))
            .key(holders_key(&booking.location))
            .arg(booking.date.to_string())
            .arg(booking.to_json())
            .arg(&event.key)
            .arg(&event.payload)
            .arg(ownership.nonce.to_hex())
            .arg(unix_millis(ownership.booked_at))
            .arg(self.booking_expires_at(booking))
            .arg(protocol::new_hold_id());
        // The one round trip a booking makes: its span and latency are the booking's cost.
        let (reply, acked): (Vec<String>, _) = self.invoke_replicated("book", &invocation).await?;
        if matches!(
            reply.first().map(String::as_str),
            Some("created" | "already_held")
        ) {
            self.confirm_replicated(acked)?;
        }
        booking_outcome(id, &reply, "booking script")
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
            let (reply, acked): (Option<Vec<String>>, _) = if self.cluster {
                self.cancel_in_steps(id, &booking, stamp, nonce).await?
            } else {
                let mut invocation = CANCEL.prepare_invoke();
                invocation
                    .key(booking_key(id))
                    .key(person_outbox_key(id))
                    .key(booking_owner_key(id))
                    .key(slots_key(&booking.location))
                    .key(capacity_key(&booking.location))
                    .key(held_key(&booking.location))
                    .key(event_sequence_key(id))
                    .key(holders_key(&booking.location))
                    .key(unsettled_key(&booking.location))
                    .arg(booking.location.as_str())
                    .arg(booking.date.to_string())
                    .arg(&stamp.event_id)
                    .arg(&stamp.occurred_at)
                    .arg(id.as_str())
                    .arg(nonce.to_hex());
                self.invoke_replicated("cancel", &invocation).await?
            };
            match reply.as_deref() {
                None => return Ok(None),
                Some([moved]) if moved == "moved" => continue,
                Some([held, stream_id, sequence, _hold_id]) => {
                    self.confirm_replicated(acked)?;
                    return Ok(Some(Cancelled {
                        booking: stored_booking(held)?,
                        outbox_id: outbox_entry_id(person_bucket(id), stream_id),
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
        // Listed once its dates exist (a separate command: `stations` has its own hash slot).
        store_call(
            "seed_station_list",
            connection.sadd::<_, _, ()>(STATIONS_KEY, plan.location.as_str()),
        )
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
        // Data from before hash tags was only ever written to a single Redis.
        if !self.cluster {
            report.keys_renamed = self.migrate_key_layout().await?;
        }
        let keys: Vec<String> = if self.cluster {
            // SCAN reaches one node only; KEYS asks every primary (a one-off, off-peak job).
            store_call("migrate_keys", connection.keys("booking:*"))
                .await
                .map_err(unavailable)?
        } else {
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
    /// Reads every outbox stream (one per person bucket, and the legacy stream) at once and
    /// keeps the oldest `limit` entries overall. Within a stream entries stay in order, and
    /// one person's events are always in one stream: per-person order holds.
    async fn oldest(
        &self,
        limit: usize,
        min_age: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut connection = self.reconnecting();
        // Redis's own clock stamped the stream ids, so it judges their age.
        let (seconds, micros): (u64, u64) = store_call(
            "outbox_time",
            redis::cmd("TIME").query_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        let now_ms = seconds * 1000 + micros / 1000;
        let Some(newest) =
            now_ms.checked_sub(u64::try_from(min_age.as_millis()).unwrap_or(u64::MAX))
        else {
            return Ok(Vec::new());
        };
        let reads = outbox_streams().map(|(stream, key)| {
            let mut connection = self.reconnecting();
            async move {
                let raw: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg(newest)
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut connection)
                    .await?;
                Ok::<_, redis::RedisError>((stream, raw))
            }
        });
        let streams = store_call("outbox_oldest", futures::future::try_join_all(reads))
            .await
            .map_err(unavailable)?;
        let mut entries = Vec::new();
        for (stream, raw) in streams {
            for (id, mut fields) in raw {
                let (Some(key), Some(payload)) = (fields.remove("key"), fields.remove("event"))
                else {
                    return Err(StoreError::UnexpectedReply(format!(
                        "outbox entry {stream}/{id} lacks key or event"
                    )));
                };
                entries.push((
                    stream_id_order(&id),
                    OutboxEntry {
                        id: format!("{stream}/{id}"),
                        record: EventRecord { key, payload },
                    },
                ));
            }
        }
        // A stable sort by time: entries of one stream keep their order.
        entries.sort_by_key(|(order, _)| *order);
        Ok(entries
            .into_iter()
            .take(limit)
            .map(|(_, entry)| entry)
            .collect())
    }

    async fn remove(&self, ids: &[String]) -> Result<(), StoreError> {
        let mut by_stream: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for id in ids {
            let (key, stream_id) = outbox_entry_location(id)?;
            by_stream.entry(key).or_default().push(stream_id);
        }
        let removals = by_stream.into_iter().map(|(key, stream_ids)| {
            let mut connection = self.reconnecting();
            async move { connection.xdel::<_, _, ()>(key, &stream_ids).await }
        });
        store_call("outbox_remove", futures::future::try_join_all(removals))
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        let lengths = outbox_streams().map(|(_, key)| {
            let mut connection = self.reconnecting();
            async move { connection.xlen::<_, u64>(key).await }
        });
        store_call("outbox_depth", futures::future::try_join_all(lengths))
            .await
            .map(|lengths| lengths.into_iter().sum())
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
