//! local-api's settings. Variables: `HOST`, `PORT`, `METRICS_HOST`, `METRICS_PORT`,
//! `REQUEST_TIMEOUT_SECS`, `WRITE_TIMEOUT_SECS`, `MAX_CONNECTIONS`, `MAX_IN_FLIGHT`,
//! `CLIENT_WRITES_PER_MINUTE`, `CLIENT_WRITE_BURST`, `TRUSTED_PROXY_HOPS`.
use booking_core::config::{ConfigError, bounded_number};

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
/// request's headers, and as long again for its body; `WRITE_TIMEOUT_SECS` (default 10) to take
/// an answer the server is writing (a client that stops reading gives its connection up);
/// `MAX_CONNECTIONS` (default 512) open connections at once, beyond which new ones wait in the
/// kernel's backlog; and how often one client may write (see [`ClientRate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    pub request_timeout: std::time::Duration,
    pub write_timeout: std::time::Duration,
    pub max_connections: usize,
    pub client_rate: ClientRate,
}

/// Bookings, cancels and queue joins one client IP may send: `CLIENT_WRITES_PER_MINUTE` (default
/// 60; 0 turns the limit off, as load tests from one machine need) with bursts of
/// `CLIENT_WRITE_BURST` (default 20); beyond them 429 with `Retry-After`. Reads are the CDN's and
/// the in-flight bound's to shed. Behind `TRUSTED_PROXY_HOPS` proxies (default 0: clients
/// connect directly), the client is the address that many entries from the right of
/// `X-Forwarded-For`, the last one a trusted proxy appended; the rest is the client's to forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRate {
    pub writes_per_minute: u32,
    pub burst: u32,
    pub trusted_proxy_hops: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: std::time::Duration::from_secs(10),
            write_timeout: std::time::Duration::from_secs(10),
            // Well under the usual 1024 open files, leaving room for Redis, the broker and logs;
            // a load balancer in front needs far fewer.
            max_connections: 512,
            client_rate: ClientRate {
                // A person books or joins once; retries and a family on one IP stay well under.
                writes_per_minute: 60,
                burst: 20,
                trusted_proxy_hops: 0,
            },
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
        let write_seconds = bounded_number(
            &lookup,
            "WRITE_TIMEOUT_SECS",
            defaults.write_timeout.as_secs(),
            1..=300,
        )?;
        let rate = defaults.client_rate;
        let number = |variable, default: u32, range| {
            bounded_number(&lookup, variable, u64::from(default), range).map(|n| n as u32)
        };
        Ok(Self {
            request_timeout: std::time::Duration::from_secs(seconds),
            write_timeout: std::time::Duration::from_secs(write_seconds),
            max_connections: max_connections as usize,
            client_rate: ClientRate {
                writes_per_minute: number(
                    "CLIENT_WRITES_PER_MINUTE",
                    rate.writes_per_minute,
                    0..=1_000_000,
                )?,
                burst: number("CLIENT_WRITE_BURST", rate.burst, 1..=100_000)?,
                trusted_proxy_hops: number("TRUSTED_PROXY_HOPS", rate.trusted_proxy_hops, 0..=10)?,
            },
        })
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

#[cfg(test)]
mod tests {
    use booking_core::config::fixed_lookup as lookup;

    type Settings = &'static [(&'static str, &'static str)];

    use super::*;

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
            ("WRITE_TIMEOUT_SECS", "4"),
            ("MAX_CONNECTIONS", "64"),
            ("CLIENT_WRITES_PER_MINUTE", "0"),
            ("CLIENT_WRITE_BURST", "5"),
            ("TRUSTED_PROXY_HOPS", "1"),
        ]))
        .unwrap();
        assert_eq!(set.request_timeout, std::time::Duration::from_secs(3));
        assert_eq!(set.write_timeout, std::time::Duration::from_secs(4));
        assert_eq!(set.max_connections, 64);
        assert_eq!(
            set.client_rate,
            ClientRate {
                writes_per_minute: 0,
                burst: 5,
                trusted_proxy_hops: 1
            }
        );
        for (settings, variable) in [
            (
                &[("REQUEST_TIMEOUT_SECS", "0")] as Settings,
                "REQUEST_TIMEOUT_SECS",
            ),
            (&[("REQUEST_TIMEOUT_SECS", "ten")], "REQUEST_TIMEOUT_SECS"),
            (&[("MAX_CONNECTIONS", "0")], "MAX_CONNECTIONS"),
            (&[("MAX_CONNECTIONS", "1e9")], "MAX_CONNECTIONS"),
            (&[("WRITE_TIMEOUT_SECS", "0")], "WRITE_TIMEOUT_SECS"),
            (&[("CLIENT_WRITE_BURST", "0")], "CLIENT_WRITE_BURST"),
            (&[("TRUSTED_PROXY_HOPS", "11")], "TRUSTED_PROXY_HOPS"),
        ] {
            assert_eq!(
                ServerLimits::from_lookup(lookup(settings))
                    .unwrap_err()
                    .variable,
                variable
            );
        }
    }
}
