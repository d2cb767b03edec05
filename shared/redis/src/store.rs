//! The store itself: how it connects (one Redis or a cluster, TLS, AUTH, timeouts), how a
//! script that changes bookings waits for replicas, and the settings every operation shares.
use super::*;

pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
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
    pub(crate) connection: Arc<SharedConnection>,
    pub(crate) wait: ReplicaWait,
    pub(crate) retention_days: u32,
    pub(crate) cluster: bool,
    pub(crate) claim_ttl: Duration,
    /// Stamps claims and holds; the reconciler judges their age by it.
    pub(crate) clock: Arc<dyn Clock>,
    /// Sees every round trip (tests only; see [`RoundTripGate`]).
    pub(crate) gate: Option<Arc<dyn RoundTripGate>>,
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
            gate: None,
        };
        // Connect now, in the background, while the runtime starts (Lambda's init phase runs
        // at full CPU): the first request then finds the connection ready instead of paying
        // for it. Still lazy in effect: with Redis down, start-up goes on and requests get 503.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut warm = store.connection.handle(None);
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

    /// The same store (its connection shared) with every round trip through `gate`: for tests
    /// that stop an operation right before a chosen step.
    #[must_use]
    pub fn with_gate(mut self, gate: Arc<dyn RoundTripGate>) -> Self {
        self.gate = Some(gate);
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
    pub(crate) async fn invoke_replicated<T: FromRedisValue>(
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

    /// Waits until the replicas asked for hold every write the shard of `key` applied so far:
    /// writes `key`'s fence ([`fence_key`]) and WAITs, in one round trip. For a step that acts
    /// on what it read there without having written it (the relay's outbox entries).
    pub(crate) async fn replicated_so_far(
        &self,
        operation: &'static str,
        key: &str,
    ) -> Result<(), StoreError> {
        if self.wait.replicas == 0 {
            return Ok(());
        }
        let mut connection = self.reconnecting();
        let (acked,): (u32,) = store_call(
            operation,
            redis::pipe()
                .cmd("SET")
                .arg(fence_key(key))
                .arg("1")
                .ignore()
                .cmd("WAIT")
                .arg(self.wait.replicas)
                .arg(u64::try_from(self.wait.timeout.as_millis()).unwrap_or(u64::MAX))
                .query_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        self.confirm_replicated(Some(acked))
    }

    /// A change is confirmed only once the replicas asked for acknowledged it; short of that,
    /// nothing is confirmed and the identical request is safe to repeat.
    pub(crate) fn confirm_replicated(&self, acked: Option<u32>) -> Result<(), StoreError> {
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
    pub(crate) fn booking_expires_at(&self, booking: &Booking) -> i64 {
        let retention = i64::from(self.retention_days) * 86_400;
        let now = i64::try_from(unix_millis(self.clock.now()) / 1000).unwrap_or(i64::MAX);
        booking.date.ends_at_unix().max(now) + retention
    }

    pub(crate) fn reconnecting(&self) -> Reconnecting {
        self.connection.handle(self.gate.clone())
    }

    /// The connection, for tests and tools that inspect the data model directly.
    pub fn connection(&self) -> StoreConnection {
        self.connection.manager()
    }
}

/// The cluster client, built once per container: it learns the slot map from the configuration
/// endpoint and follows MOVED/ASK redirections and failovers. TLS and AUTH come from the URL as
/// for a single Redis.
pub(crate) fn cluster_connection(
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

/// rustls needs one process-wide crypto provider and will not pick one by itself: ring, as the
/// rest of the build uses. Installing twice is harmless.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub(crate) fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}
