//! Broker faults the publisher must survive without panicking or staying stuck: a connection
//! that went half-open (a replaced broker), and a topic that reports no partitions.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use booking_core::domain::EventRecord;
use booking_core::ports::{EventPublisher, PublishError};
use booking_kafka::{KafkaEndpoint, KafkaPublisher, Security};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{ServerProcess, TOPIC, create_topic, read_topic};

fn record(n: u32) -> Vec<EventRecord> {
    vec![EventRecord {
        key: format!("P{n}"),
        payload: format!("{{\"eventId\":\"e{n}\"}}"),
    }]
}

/// A TCP proxy on 127.0.0.1 whose `freeze` turns every connection open at that moment into a
/// black hole (bytes are read and dropped, nothing answers, nothing closes), as a connection to
/// a broker that was replaced behind the same address looks. Later connections work.
struct FreezingProxy {
    accepted: Arc<AtomicU64>,
    frozen_up_to: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FreezingProxy {
    async fn bind() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        (listener, address)
    }

    fn start(listener: TcpListener, upstream: String) -> Self {
        let accepted = Arc::new(AtomicU64::new(0));
        let frozen_up_to = Arc::new(AtomicU64::new(0));
        let (counter, cutoff) = (Arc::clone(&accepted), Arc::clone(&frozen_up_to));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let generation = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(
                    client_read,
                    server_write,
                    Arc::clone(&cutoff),
                    generation,
                ));
                tokio::spawn(pump(
                    server_read,
                    client_write,
                    Arc::clone(&cutoff),
                    generation,
                ));
            }
        });
        Self {
            accepted,
            frozen_up_to,
            task,
        }
    }

    /// Every connection accepted so far stops passing bytes; new ones pass.
    fn freeze(&self) {
        self.frozen_up_to
            .store(self.accepted.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen_up_to: Arc<AtomicU64>,
    generation: u64,
) {
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        if generation <= frozen_up_to.load(Ordering::SeqCst) {
            continue; // black hole
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// None when it did not finish in time (the future is dropped, as the booking path's timeout
/// drops it).
async fn publish_within(
    publisher: &KafkaPublisher,
    n: u32,
    timeout_ms: u64,
) -> Option<Result<(), PublishError>> {
    tokio::time::timeout(
        Duration::from_millis(timeout_ms),
        publisher.publish(&record(n)),
    )
    .await
    .ok()
}

#[tokio::test]
async fn a_publish_that_times_out_reconnects_instead_of_waiting_on_a_dead_connection() {
    let (listener, proxy_address) = FreezingProxy::bind().await;
    let broker = ServerProcess::broker_behind(proxy_address.clone());
    let proxy = FreezingProxy::start(listener, broker.address());
    create_topic(&broker).await;
    let publisher = KafkaPublisher::new(
        KafkaEndpoint {
            brokers: vec![proxy_address],
            security: Security::Plaintext,
        },
        TOPIC,
    );
    publish_within(&publisher, 1, 5_000)
        .await
        .expect("in time")
        .expect("published");

    // Everything connected so far goes silent; a new connection would work.
    proxy.freeze();
    let abandoned = publish_within(&publisher, 2, 500).await;
    assert_eq!(abandoned, None, "the silent connection cannot answer");

    let after = publish_within(&publisher, 3, 5_000).await;
    assert_eq!(
        after,
        Some(Ok(())),
        "the next publish connects afresh instead of timing out on the dead connection"
    );
    let keys: Vec<String> = read_topic(&broker, 2)
        .await
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert!(keys.contains(&"P3".to_owned()), "{keys:?}");
}

#[tokio::test]
async fn a_topic_without_partitions_is_an_unavailable_broker_and_is_not_kept() {
    let broker = ServerProcess::broker();
    let controller = || async {
        rskafka::client::ClientBuilder::new(vec![broker.address()])
            .build()
            .await
            .unwrap()
            .controller_client()
            .unwrap()
    };
    controller()
        .await
        .create_topic(TOPIC, 0, 1, 5_000)
        .await
        .expect("tansu takes a topic with no partitions");
    let publisher = crate::helpers::publisher(&broker);

    for attempt in [1, 2] {
        let got = publish_within(&publisher, attempt, 5_000).await;
        assert!(
            matches!(got, Some(Err(PublishError::Unavailable(_)))),
            "attempt {attempt}: {got:?}"
        );
    }

    // Once the topic has partitions, the same publisher publishes: nothing empty was cached.
    controller().await.delete_topic(TOPIC, 5_000).await.unwrap();
    create_topic(&broker).await;
    assert_eq!(publish_within(&publisher, 3, 5_000).await, Some(Ok(())));
}
