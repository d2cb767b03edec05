//! The publisher's settings. Variables: `KAFKA_BROKERS`, `MSK_CLUSTER_ARN`, `KAFKA_TOPIC`, and
//! for long-lived processes `KAFKA_BATCH_LINGER_MS`, `KAFKA_BATCH_MAX`; with MSK, the AWS
//! region and credentials Lambda sets (and `AWS_ENDPOINT_URL_KAFKA`, see [`AwsEnvironment`]).
use std::time::Duration;

use booking_core::config::{AwsEnvironment, ConfigError};

pub const DEFAULT_KAFKA_TOPIC: &str = "booking-slot";

/// Where the broker is: a fixed list, or an MSK cluster whose brokers are looked up at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerSource {
    List(Vec<String>),
    Msk {
        cluster_arn: String,
        /// The role that asks MSK for its brokers and signs the IAM auth tokens.
        aws: AwsEnvironment,
        /// The MSK API's address: the region's, unless pointed at a stand-in.
        endpoint: String,
    },
}

/// Settings of the functions that publish events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    pub brokers: BrokerSource,
    pub topic: String,
}

impl KafkaConfig {
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
                let aws = AwsEnvironment::from_lookup(&lookup, "MSK_CLUSTER_ARN")?;
                let endpoint = aws.endpoint(&lookup, "KAFKA", "kafka")?;
                BrokerSource::Msk {
                    cluster_arn,
                    aws,
                    endpoint,
                }
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

#[cfg(test)]
mod tests {
    use booking_core::config::fixed_lookup as lookup;

    type Settings = &'static [(&'static str, &'static str)];

    use super::*;

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
            ("AWS_REGION", "ap-southeast-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]))
        .unwrap();
        assert!(matches!(msk.brokers, BrokerSource::Msk { .. }));
        assert_eq!(msk.topic, "bookings.v1");
        let failures: [(&'static [(&'static str, &'static str)], &str); 6] = [
            (&[], "KAFKA_BROKERS"),
            (&[("KAFKA_BROKERS", "nohost")], "KAFKA_BROKERS"),
            (&[("KAFKA_BROKERS", "a:9092,b:notaport")], "KAFKA_BROKERS"),
            (&[("MSK_CLUSTER_ARN", "cluster")], "MSK_CLUSTER_ARN"),
            (
                &[(
                    "MSK_CLUSTER_ARN",
                    "arn:aws:kafka:ap-southeast-1:1:cluster/c/u",
                )],
                "AWS_REGION",
            ),
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
