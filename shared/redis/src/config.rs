//! The Redis store's settings. Variables: `REDIS_URL`, `REDIS_CA_FILE`, `REDIS_CLUSTER`,
//! `REDIS_WAIT_REPLICAS`, `REDIS_WAIT_TIMEOUT_MS`, `BOOKING_RETENTION_DAYS`.
use std::time::Duration;

use booking_core::config::ConfigError;

use crate::RedisTimeouts;
use secrecy::SecretString;

pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

#[derive(Debug, Clone)]
pub struct RedisConfig {
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
    /// Not a variable: production's bounds, which tests shorten.
    pub timeouts: RedisTimeouts,
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

impl RedisConfig {
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
            timeouts: RedisTimeouts::default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

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
            let got = RedisConfig::from_lookup(|name| {
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
        let config = RedisConfig::from_lookup(|name| {
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
            RedisConfig::from_lookup(move |name| {
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
}
