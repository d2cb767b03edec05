//! Settings from the environment, read once per container. A missing or invalid setting stops
//! the start with a message that names the variable. Secret settings may come from a Secrets
//! Manager secret instead (see [`load_secrets`]); [`setting`] is where both are looked up.
use std::env;
use std::time::Duration;

use secrecy::SecretString;

/// Reads the secret `SETTINGS_SECRET_ARN` names, once, before anything reads a setting: the
/// first line of the `main` of every function that needs Redis or a key. Does nothing when the
/// variable is unset (local runs), so those functions keep their cold start.
pub async fn load_secrets() -> Result<(), ConfigError> {
    crate::adapters::secrets::load_from_env().await
}

/// A setting: from the loaded secret if it holds it, else from the environment.
pub fn setting(name: &str) -> Option<String> {
    crate::adapters::secrets::loaded(name).or_else(|| env::var(name).ok())
}

pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
pub const DEFAULT_KAFKA_TOPIC: &str = "booking-slot";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Secret: may carry a password (`redis://user:password@host`); Debug prints [REDACTED].
    pub redis_url: SecretString,
    /// The PEM bundle `REDIS_CA_FILE` names: the only roots trusted for `rediss://` when set
    /// (a private CA); otherwise the public webpki roots.
    pub redis_ca_pem: Option<Vec<u8>>,
    /// `REDIS_WAIT_REPLICAS` / `REDIS_WAIT_TIMEOUT_MS`.
    pub redis_wait: ReplicaWait,
    /// `BOOKING_RETENTION_DAYS`: a booking record expires this many days after its date.
    pub booking_retention_days: u32,
    /// `REDIS_CLUSTER`: `REDIS_URL` is a Redis Cluster's configuration endpoint (any node).
    pub redis_cluster: bool,
}

pub const DEFAULT_BOOKING_RETENTION_DAYS: u32 = 30;
const MAX_BOOKING_RETENTION_DAYS: u32 = 3650;

/// How many replicas must acknowledge a booking or cancel (Redis `WAIT`) before it is
/// confirmed, and how long to wait for them. Zero replicas: confirmed once the primary applied
/// it (MemoryDB, durable on commit; or a single Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaWait {
    pub replicas: u32,
    pub timeout: Duration,
}

pub const DEFAULT_REDIS_WAIT_TIMEOUT: Duration = Duration::from_millis(500);
/// Well inside a function's timeout (10 s in the template), with the Redis round trips around it.
const MAX_REDIS_WAIT_TIMEOUT_MS: u64 = 5_000;

impl Default for ReplicaWait {
    fn default() -> Self {
        Self {
            replicas: 0,
            timeout: DEFAULT_REDIS_WAIT_TIMEOUT,
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(setting)
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let redis_url = lookup("REDIS_URL")
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned());
        redis::Client::open(redis_url.as_str()).map_err(|error| ConfigError {
            variable: "REDIS_URL",
            problem: format!("is not a Redis URL ({error})"),
        })?;
        let redis_ca_pem = redis_ca_pem(&lookup, &redis_url)?;
        let redis_wait = replica_wait(&lookup)?;
        let booking_retention_days =
            match lookup("BOOKING_RETENTION_DAYS").filter(|value| !value.trim().is_empty()) {
                None => DEFAULT_BOOKING_RETENTION_DAYS,
                Some(value) => value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|days| (1..=MAX_BOOKING_RETENTION_DAYS).contains(days))
                    .ok_or_else(|| ConfigError {
                        variable: "BOOKING_RETENTION_DAYS",
                        problem: format!(
                            "must be days from 1 to {MAX_BOOKING_RETENTION_DAYS}: {value:?}"
                        ),
                    })?,
            };
        let redis_cluster = redis_cluster(&lookup)?;
        Ok(Self {
            redis_url: redis_url.into(),
            redis_ca_pem,
            redis_wait,
            booking_retention_days,
            redis_cluster,
        })
    }
}

fn redis_ca_pem(
    lookup: &impl Fn(&str) -> Option<String>,
    redis_url: &str,
) -> Result<Option<Vec<u8>>, ConfigError> {
    let Some(path) = lookup("REDIS_CA_FILE").filter(|value| !value.trim().is_empty()) else {
        return Ok(None);
    };
    let problem = |problem: String| ConfigError {
        variable: "REDIS_CA_FILE",
        problem,
    };
    if !redis_url.starts_with("rediss://") {
        return Err(problem(
            "is set but REDIS_URL is not rediss:// (TLS)".into(),
        ));
    }
    let pem = std::fs::read(&path).map_err(|e| problem(format!("cannot be read: {path}: {e}")))?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(problem(format!("{path} holds no PEM certificate")));
    }
    Ok(Some(pem))
}

fn redis_cluster(lookup: &impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    match lookup("REDIS_CLUSTER").as_deref().map(str::trim) {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(ConfigError {
            variable: "REDIS_CLUSTER",
            problem: format!("must be true or false: {other:?}"),
        }),
    }
}

fn replica_wait(lookup: &impl Fn(&str) -> Option<String>) -> Result<ReplicaWait, ConfigError> {
    let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
    let mut wait = ReplicaWait::default();
    if let Some(value) = set("REDIS_WAIT_REPLICAS") {
        wait.replicas = value.trim().parse().map_err(|_| ConfigError {
            variable: "REDIS_WAIT_REPLICAS",
            problem: format!("is not a number of replicas: {value:?}"),
        })?;
    }
    if let Some(value) = set("REDIS_WAIT_TIMEOUT_MS") {
        // WAIT 0 would block forever.
        let ms = value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| (1..=MAX_REDIS_WAIT_TIMEOUT_MS).contains(ms))
            .ok_or_else(|| ConfigError {
                variable: "REDIS_WAIT_TIMEOUT_MS",
                problem: format!(
                    "must be milliseconds from 1 to {MAX_REDIS_WAIT_TIMEOUT_MS}: {value:?}"
                ),
            })?;
        wait.timeout = Duration::from_millis(ms);
    }
    Ok(wait)
}

/// Where the broker is: a fixed list, or an MSK cluster whose brokers are looked up at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerSource {
    List(Vec<String>),
    Msk { cluster_arn: String },
}

/// Settings of the functions that publish events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    pub brokers: BrokerSource,
    pub topic: String,
}

impl KafkaConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(setting)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let topic = set("KAFKA_TOPIC").unwrap_or_else(|| DEFAULT_KAFKA_TOPIC.to_owned());
        if topic.len() > 249
            || !topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(ConfigError {
                variable: "KAFKA_TOPIC",
                problem: "is not a valid topic name (letters, digits, '.', '_', '-')".into(),
            });
        }
        let brokers = match (set("MSK_CLUSTER_ARN"), set("KAFKA_BROKERS")) {
            (Some(cluster_arn), _) => {
                if !cluster_arn.starts_with("arn:") {
                    return Err(ConfigError {
                        variable: "MSK_CLUSTER_ARN",
                        problem: "is not an ARN".into(),
                    });
                }
                BrokerSource::Msk { cluster_arn }
            }
            (None, Some(list)) => BrokerSource::List(parse_brokers(&list)?),
            (None, None) => {
                return Err(ConfigError {
                    variable: "KAFKA_BROKERS",
                    problem: "is required (host:port,...) unless MSK_CLUSTER_ARN is set".into(),
                });
            }
        };
        Ok(Self { brokers, topic })
    }
}

fn parse_brokers(list: &str) -> Result<Vec<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .map(|broker| match broker.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(broker.to_owned())
            }
            _ => Err(ConfigError {
                variable: "KAFKA_BROKERS",
                problem: format!("has {broker:?}, expected host:port"),
            }),
        })
        .collect()
}

/// How a long-lived process (local-api) batches its events: `KAFKA_BATCH_LINGER_MS` (default 1,
/// at most 10), the longest the first event of a batch waits for others, and `KAFKA_BATCH_MAX`
/// (default 500, at most 10,000) events per batch; `KAFKA_BATCH_MAX=1` publishes each event in
/// its own request. Lambda functions never batch: an invocation serves one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaBatchConfig {
    pub linger: Duration,
    pub max_records: usize,
}

impl Default for KafkaBatchConfig {
    fn default() -> Self {
        Self {
            linger: Duration::from_millis(1),
            max_records: 500,
        }
    }
}

impl KafkaBatchConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(setting)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let number = |variable: &'static str, range: std::ops::RangeInclusive<u64>| {
            let Some(raw) = lookup(variable).filter(|value| !value.trim().is_empty()) else {
                return Ok(None);
            };
            raw.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| ConfigError {
                    variable,
                    problem: format!(
                        "must be a whole number from {} to {}, not {raw:?}",
                        range.start(),
                        range.end()
                    ),
                })
        };
        if let Some(ms) = number("KAFKA_BATCH_LINGER_MS", 0..=10)? {
            config.linger = Duration::from_millis(ms);
        }
        if let Some(max) = number("KAFKA_BATCH_MAX", 1..=10_000)? {
            config.max_records = max as usize;
        }
        Ok(config)
    }
}

/// The secret booking references are derived with (`BOOKING_REFERENCE_KEY`). Every container
/// must hold the same one, or a reference from one would fail in another: so, unlike
/// `LOG_HASH_KEY`, no random key per process.
pub const BOOKING_REFERENCE_KEY: &str = "BOOKING_REFERENCE_KEY";
/// Shorter keys are refused: the key is all that stands between a MySejahtera ID and its booking.
pub const MIN_REFERENCE_KEY_LEN: usize = 32;
/// Used only off AWS when no key is set (`make run`, tests, `cargo lambda watch`). It is public,
/// so references made with it protect nothing.
const DEVELOPMENT_REFERENCE_KEY: &str =
    "development only: booking references made with this key are public";

#[derive(Clone, PartialEq, Eq)]
pub struct ReferenceKey {
    pub key: Vec<u8>,
    /// True when the public development key stands in for a missing setting.
    pub development: bool,
}

impl std::fmt::Debug for ReferenceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceKey")
            .field("key", &"<redacted>")
            .field("development", &self.development)
            .finish()
    }
}

impl ReferenceKey {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(setting)
    }

    /// Deployed means running in AWS Lambda, which sets `LAMBDA_TASK_ROOT` in every runtime.
    /// Not `AWS_LAMBDA_FUNCTION_NAME`: `cargo lambda watch` sets that one too, and local runs
    /// must work without a secret.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let deployed = lookup("LAMBDA_TASK_ROOT").is_some_and(|root| !root.is_empty());
        match lookup(BOOKING_REFERENCE_KEY).filter(|key| !key.is_empty()) {
            Some(key) if key.len() >= MIN_REFERENCE_KEY_LEN => Ok(Self {
                key: key.into_bytes(),
                development: false,
            }),
            Some(_) => Err(ConfigError {
                variable: BOOKING_REFERENCE_KEY,
                problem: format!(
                    "must be at least {MIN_REFERENCE_KEY_LEN} characters (e.g. `openssl rand -hex 32`)"
                ),
            }),
            None if deployed => Err(ConfigError {
                variable: BOOKING_REFERENCE_KEY,
                problem: "is required in AWS Lambda (a key of the settings secret, the same for \
                          every function)"
                    .into(),
            }),
            None => Ok(Self {
                key: DEVELOPMENT_REFERENCE_KEY.as_bytes().to_vec(),
                development: true,
            }),
        }
    }
}

/// Where `local-api` listens: `HOST` (default 127.0.0.1; 0.0.0.0 in a container) and `PORT`
/// (default 3000).
pub fn listen_address(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<std::net::SocketAddr, ConfigError> {
    let host = ip_address(&lookup, "HOST")?;
    let port = lookup("PORT").unwrap_or_else(|| "3000".to_owned());
    let port: u16 = port.parse().map_err(|_| ConfigError {
        variable: "PORT",
        problem: format!("is not a port number: {port:?}"),
    })?;
    Ok((host, port).into())
}

/// Where `local-api` serves `GET /metrics`: an operator port apart from the public listener,
/// on `METRICS_HOST` (default 127.0.0.1: only the machine itself may scrape) and `METRICS_PORT`
/// (default 9464, Prometheus' customary exporter port).
pub fn metrics_address(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<std::net::SocketAddr, ConfigError> {
    let host = ip_address(&lookup, "METRICS_HOST")?;
    let port = bounded_number(&lookup, "METRICS_PORT", 9464, 0..=u64::from(u16::MAX))?;
    Ok((host, port as u16).into())
}

/// An IP address to listen on, 127.0.0.1 when unset.
fn ip_address(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<std::net::IpAddr, ConfigError> {
    let host = lookup(variable).unwrap_or_else(|| "127.0.0.1".to_owned());
    host.parse().map_err(|_| ConfigError {
        variable,
        problem: format!("is not an IP address: {host:?}"),
    })
}

/// How much of the server one client may hold: `REQUEST_TIMEOUT_SECS` (default 10) to send a
/// request's headers, and as long again for its body; `MAX_CONNECTIONS` (default 512) open
/// connections at once, beyond which new ones wait in the kernel's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    pub request_timeout: std::time::Duration,
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: std::time::Duration::from_secs(10),
            // Well under the usual 1024 open files, leaving room for Redis, the broker and logs;
            // a load balancer in front needs far fewer.
            max_connections: 512,
        }
    }
}

impl ServerLimits {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let seconds = bounded_number(
            &lookup,
            "REQUEST_TIMEOUT_SECS",
            defaults.request_timeout.as_secs(),
            1..=300,
        )?;
        let max_connections = bounded_number(
            &lookup,
            "MAX_CONNECTIONS",
            defaults.max_connections as u64,
            1..=65_536,
        )?;
        Ok(Self {
            request_timeout: std::time::Duration::from_secs(seconds),
            max_connections: max_connections as usize,
        })
    }
}

/// A whole number in `range`, or `default` when the variable is unset or empty.
fn bounded_number(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(value) = lookup(variable).filter(|value| !value.trim().is_empty()) else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(ConfigError {
            variable,
            problem: format!(
                "must be a whole number from {} to {}, got {value:?}",
                range.start(),
                range.end()
            ),
        }),
    }
}

/// `local-api`'s bound on requests in flight, `MAX_IN_FLIGHT` (default 1024): past it, 429 at
/// once. Sized so that at the measured rates a full house still answers well within a client's
/// patience (1024 requests at ~7,000 bookings/s is ~150 ms of work).
pub fn max_in_flight(lookup: impl Fn(&str) -> Option<String>) -> Result<usize, ConfigError> {
    match lookup("MAX_IN_FLIGHT").filter(|value| !value.trim().is_empty()) {
        None => Ok(1024),
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(limit) if limit > 0 => Ok(limit),
            _ => Err(ConfigError {
                variable: "MAX_IN_FLIGHT",
                problem: format!("must be a positive whole number, not {raw:?}"),
            }),
        },
    }
}

/// Signs the waiting room's tickets and tokens when `ADMISSION_KEY` is not set and the room is
/// off: then nothing depends on them (bookings need no token), and local runs work with no
/// secret. Public, so never good enough for a room that is on.
pub const LOCAL_ADMISSION_KEY: &str = "local-only admission key: never used with WAITING_ROOM=on";
/// The inlet's rate when `QUEUE_INLET_RATE` is not set: people per minute (see README, "Opening
/// day").
pub const DEFAULT_QUEUE_INLET_RATE: u64 = 30_000;
const MIN_ADMISSION_KEY_BYTES: usize = 32;

/// The waiting room's settings: `WAITING_ROOM` (`off` by default, `on` requires an admission
/// token on `POST /booking`), `ADMISSION_KEY` (required when on), `QUEUE_INLET_MODE` (`rate` by
/// default, or `capacity`) and `QUEUE_INLET_RATE` (people per minute).
#[derive(Clone, PartialEq, Eq)]
pub struct WaitingRoomConfig {
    pub room_on: bool,
    pub admission_key: Vec<u8>,
    pub inlet: crate::waiting_room::InletSettings,
}

impl std::fmt::Debug for WaitingRoomConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitingRoomConfig")
            .field("room_on", &self.room_on)
            .field("inlet", &self.inlet)
            .finish_non_exhaustive()
    }
}

impl WaitingRoomConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        // ADMISSION_KEY may come from the settings secret, like every secret.
        Self::from_lookup(setting)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let room_on = match set("WAITING_ROOM").as_deref().map(str::trim) {
            None | Some("off") => false,
            Some("on") => true,
            Some(other) => {
                return Err(ConfigError {
                    variable: "WAITING_ROOM",
                    problem: format!("must be on or off, not {other:?}"),
                });
            }
        };
        let admission_key = match set("ADMISSION_KEY") {
            Some(key) if key.len() >= MIN_ADMISSION_KEY_BYTES => key.into_bytes(),
            Some(_) => {
                return Err(ConfigError {
                    variable: "ADMISSION_KEY",
                    problem: format!(
                        "must be at least {MIN_ADMISSION_KEY_BYTES} characters (a random secret)"
                    ),
                });
            }
            None if room_on => {
                return Err(ConfigError {
                    variable: "ADMISSION_KEY",
                    problem: "is required when WAITING_ROOM=on".into(),
                });
            }
            None => LOCAL_ADMISSION_KEY.as_bytes().to_vec(),
        };
        let inlet = inlet_settings(&lookup)?;
        Ok(Self {
            room_on,
            admission_key,
            inlet,
        })
    }
}

/// The inlet's settings alone, for the inlet function (which needs no key):
/// `QUEUE_INLET_MODE` (`rate` by default, or `capacity`) and `QUEUE_INLET_RATE`.
pub fn inlet_settings(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<crate::waiting_room::InletSettings, ConfigError> {
    use crate::waiting_room::{InletMode, InletSettings};
    let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
    let mode = match set("QUEUE_INLET_MODE").as_deref().map(str::trim) {
        None | Some("rate") => InletMode::Rate,
        Some("capacity") => InletMode::Capacity,
        Some(other) => {
            return Err(ConfigError {
                variable: "QUEUE_INLET_MODE",
                problem: format!("must be rate or capacity, not {other:?}"),
            });
        }
    };
    let people_per_minute = match set("QUEUE_INLET_RATE") {
        None => DEFAULT_QUEUE_INLET_RATE,
        Some(rate) => rate.trim().parse().map_err(|_| ConfigError {
            variable: "QUEUE_INLET_RATE",
            problem: format!("must be a whole number of people per minute, not {rate:?}"),
        })?,
    };
    Ok(InletSettings {
        mode,
        people_per_minute,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    type Settings = &'static [(&'static str, &'static str)];

    /// An environment holding exactly `settings`.
    fn lookup(settings: Settings) -> impl Fn(&str) -> Option<String> {
        move |name| {
            settings
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn kafka_settings_name_the_variable_at_fault() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let ok =
            KafkaConfig::from_lookup(env(&[("KAFKA_BROKERS", "127.0.0.1:9092, b:9093")])).unwrap();
        assert_eq!(
            ok.brokers,
            BrokerSource::List(vec!["127.0.0.1:9092".into(), "b:9093".into()])
        );
        assert_eq!(ok.topic, "booking-slot");
        let msk = KafkaConfig::from_lookup(env(&[
            (
                "MSK_CLUSTER_ARN",
                "arn:aws:kafka:ap-southeast-1:1:cluster/c/u",
            ),
            ("KAFKA_TOPIC", "bookings.v1"),
        ]))
        .unwrap();
        assert!(matches!(msk.brokers, BrokerSource::Msk { .. }));
        assert_eq!(msk.topic, "bookings.v1");
        let failures: [(&'static [(&'static str, &'static str)], &str); 5] = [
            (&[], "KAFKA_BROKERS"),
            (&[("KAFKA_BROKERS", "nohost")], "KAFKA_BROKERS"),
            (&[("KAFKA_BROKERS", "a:9092,b:notaport")], "KAFKA_BROKERS"),
            (&[("MSK_CLUSTER_ARN", "cluster")], "MSK_CLUSTER_ARN"),
            (
                &[("KAFKA_BROKERS", "a:1"), ("KAFKA_TOPIC", "bad topic")],
                "KAFKA_TOPIC",
            ),
        ];
        for (pairs, variable) in failures {
            let error = KafkaConfig::from_lookup(env(pairs)).unwrap_err();
            assert_eq!(error.variable, variable, "{pairs:?}");
        }
    }

    #[test]
    fn redis_url_defaults_and_is_checked() {
        let cases: [(Option<&str>, Result<&str, &str>); 4] = [
            (None, Ok(DEFAULT_REDIS_URL)),
            (Some(""), Ok(DEFAULT_REDIS_URL)),
            (
                Some("redis://cache.internal:6380/1"),
                Ok("redis://cache.internal:6380/1"),
            ),
            (Some("http://nope"), Err("REDIS_URL")),
        ];
        for (value, expected) in cases {
            let got = Config::from_lookup(|name| {
                value.filter(|_| name == "REDIS_URL").map(str::to_owned)
            });
            match expected {
                Ok(url) => assert_eq!(got.unwrap().redis_url.expose_secret(), url),
                Err(variable) => assert_eq!(got.unwrap_err().variable, variable),
            }
        }
    }

    #[test]
    fn debug_output_of_the_config_shows_no_secret() {
        let config = Config::from_lookup(|name| {
            (name == "REDIS_URL").then(|| "rediss://app:s3cr3t-pass@cache.internal:6380".into())
        })
        .unwrap();
        let shown = format!("{config:?} {:#?}", config.clone());
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn redis_tls_and_wait_settings_name_the_variable_at_fault() {
        let ca = std::env::temp_dir().join(format!("config-ca-{}.pem", std::process::id()));
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let ca_path = ca.to_str().unwrap().to_owned();
        let config = |pairs: Vec<(&'static str, String)>| {
            Config::from_lookup(move |name| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.clone())
            })
        };
        let tls = || {
            (
                "REDIS_URL",
                "rediss://:token@cache.internal:6379".to_owned(),
            )
        };
        let ok = config(vec![
            tls(),
            ("REDIS_CA_FILE", ca_path.clone()),
            ("REDIS_WAIT_REPLICAS", "1".into()),
            ("REDIS_WAIT_TIMEOUT_MS", "250".into()),
        ])
        .unwrap();
        assert!(ok.redis_ca_pem.is_some());
        assert_eq!(
            ok.redis_wait,
            ReplicaWait {
                replicas: 1,
                timeout: Duration::from_millis(250)
            }
        );
        assert_eq!(config(vec![]).unwrap().redis_wait, ReplicaWait::default());
        assert_eq!(config(vec![]).unwrap().booking_retention_days, 30);
        let kept = config(vec![("BOOKING_RETENTION_DAYS", "90".into())]).unwrap();
        assert_eq!(kept.booking_retention_days, 90);
        assert!(!config(vec![]).unwrap().redis_cluster);
        assert!(
            config(vec![("REDIS_CLUSTER", "true".into())])
                .unwrap()
                .redis_cluster
        );
        let failures: Vec<(Vec<(&'static str, String)>, &str)> = vec![
            (vec![("REDIS_CA_FILE", ca_path.clone())], "REDIS_CA_FILE"),
            (
                vec![tls(), ("REDIS_CA_FILE", "/nonexistent/ca.pem".into())],
                "REDIS_CA_FILE",
            ),
            (
                vec![tls(), ("REDIS_CA_FILE", "Cargo.toml".into())],
                "REDIS_CA_FILE",
            ),
            (
                vec![("REDIS_WAIT_REPLICAS", "-1".into())],
                "REDIS_WAIT_REPLICAS",
            ),
            (
                vec![("BOOKING_RETENTION_DAYS", "0".into())],
                "BOOKING_RETENTION_DAYS",
            ),
            (
                vec![("BOOKING_RETENTION_DAYS", "a month".into())],
                "BOOKING_RETENTION_DAYS",
            ),
            (vec![("REDIS_CLUSTER", "yes".into())], "REDIS_CLUSTER"),
            (
                vec![("REDIS_WAIT_TIMEOUT_MS", "0".into())],
                "REDIS_WAIT_TIMEOUT_MS",
            ),
            (
                vec![("REDIS_WAIT_TIMEOUT_MS", "60000".into())],
                "REDIS_WAIT_TIMEOUT_MS",
            ),
        ];
        for (pairs, variable) in failures {
            let shown = format!("{pairs:?}");
            assert_eq!(config(pairs).unwrap_err().variable, variable, "{shown}");
        }
        std::fs::remove_file(ca).unwrap();
    }

    #[test]
    fn the_reference_key_is_required_in_lambda_only() {
        let key = "k".repeat(MIN_REFERENCE_KEY_LEN);
        type Settings<'a> = Vec<(&'a str, &'a str)>;
        let cases: Vec<(Settings, Result<bool, ()>)> = vec![
            (vec![], Ok(true)),
            (vec![("AWS_LAMBDA_FUNCTION_NAME", "get-booking")], Ok(true)),
            (vec![(BOOKING_REFERENCE_KEY, &key)], Ok(false)),
            (
                vec![
                    (BOOKING_REFERENCE_KEY, &key),
                    ("LAMBDA_TASK_ROOT", "/var/task"),
                ],
                Ok(false),
            ),
            (vec![("LAMBDA_TASK_ROOT", "/var/task")], Err(())),
            (
                vec![
                    (BOOKING_REFERENCE_KEY, ""),
                    ("LAMBDA_TASK_ROOT", "/var/task"),
                ],
                Err(()),
            ),
            (vec![(BOOKING_REFERENCE_KEY, "short")], Err(())),
        ];
        for (settings, expected) in cases {
            let got = ReferenceKey::from_lookup(|name| {
                settings
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            });
            match (got, expected) {
                (Ok(got), Ok(development)) => {
                    assert_eq!(got.development, development, "{settings:?}");
                    if !development {
                        assert_eq!(got.key, key.as_bytes(), "{settings:?}");
                    }
                    assert!(!format!("{got:?}").contains(&key), "Debug redacts the key");
                }
                (Err(error), Err(())) => {
                    assert_eq!(error.variable, BOOKING_REFERENCE_KEY, "{settings:?}")
                }
                (got, _) => panic!("{settings:?}: got {got:?}"),
            }
        }
    }

    #[test]
    fn listen_address_defaults_and_is_checked() {
        let cases: [(Settings, Result<&str, &str>); 5] = [
            (&[], Ok("127.0.0.1:3000")),
            (&[("PORT", "9250")], Ok("127.0.0.1:9250")),
            (&[("HOST", "0.0.0.0"), ("PORT", "80")], Ok("0.0.0.0:80")),
            (&[("PORT", "70000")], Err("PORT")),
            (&[("HOST", "localhost")], Err("HOST")),
        ];
        for (settings, expected) in cases {
            let lookup = lookup(settings);
            match (listen_address(lookup), expected) {
                (Ok(address), Ok(wanted)) => assert_eq!(address.to_string(), wanted),
                (Err(error), Err(variable)) => assert_eq!(error.variable, variable),
                (got, wanted) => panic!("{settings:?}: got {got:?}, wanted {wanted:?}"),
            }
        }
    }

    #[test]
    fn operator_port_and_server_limits_default_and_are_checked() {
        assert_eq!(
            metrics_address(lookup(&[])).unwrap().to_string(),
            "127.0.0.1:9464"
        );
        assert_eq!(
            metrics_address(lookup(&[
                ("METRICS_HOST", "0.0.0.0"),
                ("METRICS_PORT", "9100")
            ]))
            .unwrap()
            .to_string(),
            "0.0.0.0:9100"
        );
        for (settings, variable) in [
            (&[("METRICS_PORT", "70000")] as Settings, "METRICS_PORT"),
            (&[("METRICS_PORT", "-1")], "METRICS_PORT"),
            (&[("METRICS_HOST", "localhost")], "METRICS_HOST"),
        ] {
            assert_eq!(
                metrics_address(lookup(settings)).unwrap_err().variable,
                variable
            );
        }

        assert_eq!(
            ServerLimits::from_lookup(lookup(&[])).unwrap(),
            ServerLimits::default()
        );
        let set = ServerLimits::from_lookup(lookup(&[
            ("REQUEST_TIMEOUT_SECS", "3"),
            ("MAX_CONNECTIONS", "64"),
        ]))
        .unwrap();
        assert_eq!(set.request_timeout, std::time::Duration::from_secs(3));
        assert_eq!(set.max_connections, 64);
        for (settings, variable) in [
            (
                &[("REQUEST_TIMEOUT_SECS", "0")] as Settings,
                "REQUEST_TIMEOUT_SECS",
            ),
            (&[("REQUEST_TIMEOUT_SECS", "ten")], "REQUEST_TIMEOUT_SECS"),
            (&[("MAX_CONNECTIONS", "0")], "MAX_CONNECTIONS"),
            (&[("MAX_CONNECTIONS", "1e9")], "MAX_CONNECTIONS"),
        ] {
            assert_eq!(
                ServerLimits::from_lookup(lookup(settings))
                    .unwrap_err()
                    .variable,
                variable
            );
        }
    }

    #[test]
    fn waiting_room_settings_default_off_and_name_the_variable_at_fault() {
        use crate::waiting_room::InletMode;
        let off = WaitingRoomConfig::from_lookup(lookup(&[])).unwrap();
        assert!(!off.room_on);
        assert_eq!(off.admission_key, LOCAL_ADMISSION_KEY.as_bytes());
        assert_eq!(off.inlet.mode, InletMode::Rate);
        assert_eq!(off.inlet.people_per_minute, DEFAULT_QUEUE_INLET_RATE);
        let key = "0123456789abcdef0123456789abcdef";
        let on = WaitingRoomConfig::from_lookup(lookup(&[
            ("WAITING_ROOM", "on"),
            ("ADMISSION_KEY", "0123456789abcdef0123456789abcdef"),
            ("QUEUE_INLET_MODE", "capacity"),
            ("QUEUE_INLET_RATE", "1200"),
        ]))
        .unwrap();
        assert!(on.room_on);
        assert_eq!(on.admission_key, key.as_bytes());
        assert_eq!(on.inlet.mode, InletMode::Capacity);
        assert_eq!(on.inlet.people_per_minute, 1200);
        let failures: [(Settings, &str); 5] = [
            (&[("WAITING_ROOM", "on")], "ADMISSION_KEY"),
            (&[("WAITING_ROOM", "yes")], "WAITING_ROOM"),
            (&[("ADMISSION_KEY", "short")], "ADMISSION_KEY"),
            (&[("QUEUE_INLET_MODE", "fast")], "QUEUE_INLET_MODE"),
            (&[("QUEUE_INLET_RATE", "-5")], "QUEUE_INLET_RATE"),
        ];
        for (settings, variable) in failures {
            let error = WaitingRoomConfig::from_lookup(lookup(settings)).unwrap_err();
            assert_eq!(error.variable, variable, "{settings:?}");
        }
    }

    #[test]
    fn batch_settings_default_to_batching_and_name_the_variable_at_fault() {
        assert_eq!(
            KafkaBatchConfig::from_lookup(lookup(&[])).unwrap(),
            KafkaBatchConfig {
                linger: Duration::from_millis(1),
                max_records: 500
            }
        );
        let per_event = KafkaBatchConfig::from_lookup(lookup(&[
            ("KAFKA_BATCH_MAX", "1"),
            ("KAFKA_BATCH_LINGER_MS", "0"),
        ]))
        .unwrap();
        assert_eq!(per_event.max_records, 1);
        assert_eq!(per_event.linger, Duration::ZERO);
        let failures: [(Settings, &str); 4] = [
            (&[("KAFKA_BATCH_MAX", "0")], "KAFKA_BATCH_MAX"),
            (&[("KAFKA_BATCH_MAX", "many")], "KAFKA_BATCH_MAX"),
            (&[("KAFKA_BATCH_LINGER_MS", "11")], "KAFKA_BATCH_LINGER_MS"),
            (&[("KAFKA_BATCH_LINGER_MS", "-1")], "KAFKA_BATCH_LINGER_MS"),
        ];
        for (settings, variable) in failures {
            let error = KafkaBatchConfig::from_lookup(lookup(settings)).unwrap_err();
            assert_eq!(error.variable, variable, "{settings:?}");
        }
    }
}
