//! The broker: publishes outbox events to a Kafka-compatible broker (Redpanda locally, MSK in
//! AWS) with rskafka, a pure-Rust client that cross-compiles for Lambda without C libraries.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rskafka::BackoffConfig;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{ClientBuilder, OauthBearerCredentials, SaslConfig};
use rskafka::record::Record;
use tokio::sync::{OnceCell, RwLock};

use crate::config::{BrokerSource, KafkaConfig};
use booking_core::config::AwsEnvironment;
use booking_core::domain::EventRecord;
use booking_core::ports::{EventPublisher, PublishError};

mod batching;
pub mod config;
pub mod msk;
mod nodelay;
pub use batching::BatchingPublisher;

/// How to reach the brokers once they are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaEndpoint {
    pub brokers: Vec<String>,
    pub security: Security,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    Plaintext,
    Tls,
    /// TLS with SASL/OAUTHBEARER tokens signed by the function's IAM role (MSK IAM auth).
    TlsIam {
        aws: AwsEnvironment,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("MSK GetBootstrapBrokers failed for {cluster_arn}: {message}")]
    Discovery {
        cluster_arn: String,
        message: String,
    },
    #[error("MSK cluster {0} reported no bootstrap brokers")]
    NoBrokers(String),
}

/// Resolves the configured broker source; for MSK this is one GetBootstrapBrokers call at cold
/// start.
pub async fn resolve_endpoint(config: &KafkaConfig) -> Result<KafkaEndpoint, KafkaSetupError> {
    match &config.brokers {
        BrokerSource::List(brokers) => Ok(KafkaEndpoint {
            brokers: brokers.clone(),
            security: Security::Plaintext,
        }),
        BrokerSource::Msk {
            cluster_arn,
            aws,
            endpoint,
        } => {
            let reply = msk::client(aws, endpoint)
                .get_bootstrap_brokers()
                .cluster_arn(cluster_arn)
                .send()
                .await
                .map_err(|e| KafkaSetupError::Discovery {
                    cluster_arn: cluster_arn.clone(),
                    message: aws_sdk_kafka::error::DisplayErrorContext(e).to_string(),
                })?;
            choose_msk_brokers(
                reply.bootstrap_broker_string_sasl_iam(),
                reply.bootstrap_broker_string_tls(),
                reply.bootstrap_broker_string(),
                aws,
            )
            .ok_or_else(|| KafkaSetupError::NoBrokers(cluster_arn.clone()))
        }
    }
}

/// Prefers IAM authentication, then TLS, then plaintext, as the cluster offers them.
pub fn choose_msk_brokers(
    sasl_iam: Option<&str>,
    tls: Option<&str>,
    plaintext: Option<&str>,
    aws: &AwsEnvironment,
) -> Option<KafkaEndpoint> {
    let split = |list: &str| -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let candidates = [
        (sasl_iam, Security::TlsIam { aws: aws.clone() }),
        (tls, Security::Tls),
        (plaintext, Security::Plaintext),
    ];
    candidates.into_iter().find_map(|(list, security)| {
        let brokers = split(list?);
        (!brokers.is_empty()).then_some(KafkaEndpoint { brokers, security })
    })
}

/// Kafka's default partitioner (murmur2 of the key), so this producer puts a person's events on
/// the same partition as any Java or librdkafka producer would.
pub fn partition_for(key: &[u8], partitions: usize) -> usize {
    (murmur2(key) & 0x7fff_ffff) as usize % partitions.max(1)
}

fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The topic's partitions, connected.
struct Connected {
    /// Never empty: a topic without partitions is refused as "broker unavailable".
    partitions: Vec<Arc<PartitionClient>>,
    /// Set when a publish on it failed or was abandoned (timed out): the next publish connects
    /// afresh instead of waiting on what may be a half-open connection to a replaced broker.
    broken: AtomicBool,
}

impl Connected {
    fn usable(&self) -> bool {
        !self.broken.load(Ordering::Relaxed)
    }
}

/// Marks its connection broken when dropped armed: a publish that errs, or whose future is
/// dropped by the caller's timeout before the broker answered.
struct BreakUnlessDone<'a> {
    connected: &'a Connected,
    done: bool,
}

impl Drop for BreakUnlessDone<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.connected.broken.store(true, Ordering::Relaxed);
        }
    }
}

/// The records grouped per partition (index = partition id), each group in the given order.
/// No partitions is an error, not an index panic: the connection it came from is unusable.
fn batches_by_partition(
    records: &[EventRecord],
    partitions: usize,
    timestamp: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Vec<Record>>, PublishError> {
    if partitions == 0 {
        return Err(PublishError::Unavailable(
            "the topic has no partitions".into(),
        ));
    }
    let mut batches: Vec<Vec<Record>> = vec![Vec::new(); partitions];
    for record in records {
        batches[partition_for(record.key.as_bytes(), partitions)].push(Record {
            key: Some(record.key.clone().into_bytes()),
            value: Some(record.payload.clone().into_bytes()),
            headers: Default::default(),
            timestamp,
        });
    }
    Ok(batches)
}

/// How long a cold start waits for MSK's broker list before starting without it.
const DISCOVERY_AT_START: Duration = Duration::from_secs(3);

/// One producer per container. It connects on first use (a cold start with the broker down
/// still serves bookings) and reconnects after any failure.
pub struct KafkaPublisher {
    source: KafkaConfig,
    /// Resolved once; for MSK, retried on later publishes if the cold start could not.
    endpoint: OnceCell<KafkaEndpoint>,
    topic: String,
    connect_timeout: Duration,
    connected: RwLock<Option<Arc<Connected>>>,
}

impl KafkaPublisher {
    pub fn new(endpoint: KafkaEndpoint, topic: impl Into<String>) -> Self {
        let topic = topic.into();
        Self {
            source: KafkaConfig {
                brokers: BrokerSource::List(endpoint.brokers.clone()),
                topic: topic.clone(),
            },
            endpoint: OnceCell::new_with(Some(endpoint)),
            topic,
            connect_timeout: Duration::from_secs(2),
            connected: RwLock::new(None),
        }
    }

    /// Resolves the brokers now if it can. If MSK cannot be asked (API unreachable, throttled),
    /// the function still starts: bookings must not depend on the broker, and the events wait
    /// in the outbox until a later publish resolves it.
    pub async fn from_config(config: &KafkaConfig) -> Self {
        let publisher = Self {
            source: config.clone(),
            endpoint: OnceCell::new(),
            topic: config.topic.clone(),
            connect_timeout: Duration::from_secs(2),
            connected: RwLock::new(None),
        };
        match tokio::time::timeout(DISCOVERY_AT_START, publisher.endpoint()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "broker discovery failed; retrying on publish")
            }
            Err(_) => tracing::error!("broker discovery timed out; retrying on publish"),
        }
        publisher
    }

    async fn endpoint(&self) -> Result<&KafkaEndpoint, KafkaSetupError> {
        self.endpoint
            .get_or_try_init(|| resolve_endpoint(&self.source))
            .await
    }

    async fn connection(&self) -> Result<Arc<Connected>, PublishError> {
        if let Some(connected) = self.connected.read().await.as_ref().filter(|c| c.usable()) {
            return Ok(Arc::clone(connected));
        }
        let mut slot = self.connected.write().await;
        if let Some(connected) = slot.as_ref().filter(|c| c.usable()) {
            return Ok(Arc::clone(connected));
        }
        // Start afresh: the broker may have restarted, moved partitions or been replaced.
        *slot = None;
        let connected = Arc::new(self.connect().await?);
        *slot = Some(Arc::clone(&connected));
        Ok(connected)
    }

    async fn connect(&self) -> Result<Connected, PublishError> {
        let unavailable =
            |e: rskafka::client::error::Error| PublishError::Unavailable(e.to_string());
        let endpoint = self
            .endpoint()
            .await
            .map_err(|e| PublishError::Unavailable(e.to_string()))?;
        let mut builder = ClientBuilder::new(endpoint.brokers.clone())
            .client_id("vaccine-booking")
            // rskafka retries forever by default; the caller's timeout and the outbox retry.
            .backoff_config(BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(500),
                base: 2.0,
                deadline: Some(self.connect_timeout),
            });
        if endpoint.security != Security::Plaintext {
            builder = builder.tls_config(tls_config());
        }
        if let Security::TlsIam { aws } = &endpoint.security {
            builder = builder.sasl_config(iam_sasl(aws.clone()));
        }
        let client = builder.build().await.map_err(unavailable)?;
        let topics = client.list_topics().await.map_err(unavailable)?;
        let topic = topics
            .into_iter()
            .find(|t| t.name == self.topic)
            .ok_or_else(|| {
                PublishError::Unavailable(format!("topic {} does not exist", self.topic))
            })?;
        if topic.partitions.is_empty() {
            return Err(PublishError::Unavailable(format!(
                "topic {} has no partitions",
                self.topic
            )));
        }
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        // BTreeSet: partition ids come in order, so index == partition id.
        for partition in topic.partitions {
            let client = client
                .partition_client(&self.topic, partition, UnknownTopicHandling::Error)
                .await
                .map_err(unavailable)?;
            partitions.push(Arc::new(client));
        }
        // Every connection this client needs is open now (one per broker, shared by the
        // partitions): without Nagle, a produce goes out whole at once (see nodelay.rs).
        nodelay::disable_nagle_to(&nodelay::resolve(&endpoint.brokers).await);
        Ok(Connected {
            partitions,
            broken: AtomicBool::new(false),
        })
    }
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // An explicit provider: the AWS SDK links another one, and rustls refuses to guess.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

fn iam_sasl(aws: AwsEnvironment) -> SaslConfig {
    SaslConfig::Oauthbearer(OauthBearerCredentials {
        // Signed afresh at each (re)connect, so a token never outlives its 15 minutes.
        callback: Arc::new(move || {
            let token = msk::auth_token(&aws, std::time::SystemTime::now());
            Box::pin(async move { Ok(token?) })
        }),
        authz_id: None,
        bearer_kvs: vec![],
    })
}

#[async_trait]
impl EventPublisher for KafkaPublisher {
    async fn publish(&self, records: &[EventRecord]) -> Result<(), PublishError> {
        if records.is_empty() {
            return Ok(());
        }
        let connected = self.connection().await?;
        let mut guard = BreakUnlessDone {
            connected: &connected,
            done: false,
        };
        let batches =
            batches_by_partition(records, connected.partitions.len(), chrono::Utc::now())?;
        // One produce per partition, in parallel; each keeps its records' order. rskafka asks
        // for acks from all in-sync replicas.
        futures::future::try_join_all(
            batches
                .into_iter()
                .zip(&connected.partitions)
                .filter(|(batch, _)| !batch.is_empty())
                .map(|(batch, client)| client.produce(batch, Compression::NoCompression)),
        )
        .await
        .map_err(|error| PublishError::Unavailable(error.to_string()))?;
        guard.done = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_reference_values() {
        // From Kafka's own UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key) as i32,
                expected,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
        assert!(partition_for(b"900127015527", 3) < 3);
        assert_eq!(partition_for(b"anything", 1), 0);
    }

    #[test]
    fn records_are_grouped_by_partition_and_no_partitions_is_unavailable() {
        let records: Vec<EventRecord> = ["900127015527", "880412105531", "900127015527"]
            .iter()
            .enumerate()
            .map(|(i, key)| EventRecord {
                key: (*key).into(),
                payload: format!("{i}"),
            })
            .collect();
        let now = chrono::Utc::now();

        assert!(matches!(
            batches_by_partition(&records, 0, now),
            Err(PublishError::Unavailable(_))
        ));
        let batches = batches_by_partition(&records, 3, now).unwrap();
        assert_eq!(batches.len(), 3);
        let first = &batches[partition_for(b"900127015527", 3)];
        let values: Vec<_> = first
            .iter()
            .filter(|r| r.key.as_deref() == Some(b"900127015527".as_slice()))
            .map(|r| r.value.clone().unwrap())
            .collect();
        assert_eq!(
            values,
            [b"0".to_vec(), b"2".to_vec()],
            "one person's order kept"
        );
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 3);
    }

    #[test]
    fn msk_brokers_prefer_iam_then_tls_then_plaintext() {
        let aws = AwsEnvironment {
            region: "ap-southeast-1".into(),
            access_key_id: "AKID".into(),
            secret_access_key: "secret".to_owned().into(),
            session_token: None,
        };
        let iam = choose_msk_brokers(Some("b-1:9098,b-2:9098"), Some("b-1:9094"), None, &aws);
        assert_eq!(
            iam,
            Some(KafkaEndpoint {
                brokers: vec!["b-1:9098".into(), "b-2:9098".into()],
                security: Security::TlsIam { aws: aws.clone() },
            })
        );
        let tls = choose_msk_brokers(None, Some("b-1:9094"), Some("b-1:9092"), &aws).unwrap();
        assert_eq!(tls.security, Security::Tls);
        let plain = choose_msk_brokers(Some(""), None, Some("b-1:9092"), &aws).unwrap();
        assert_eq!(plain.security, Security::Plaintext);
        assert_eq!(choose_msk_brokers(None, None, None, &aws), None);
    }
}
