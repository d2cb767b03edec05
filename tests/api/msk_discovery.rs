//! MSK broker discovery over the wire: the publisher as the functions build it from Lambda's
//! variables asks a stand-in of the MSK API (moto has no GetBootstrapBrokers) for the brokers,
//! with a signed request, and then publishes to the broker the answer names.
use std::time::Duration;

use booking_core::domain::EventRecord;
use booking_core::ports::EventPublisher;
use booking_kafka::KafkaPublisher;
use booking_kafka::config::KafkaConfig;

use crate::helpers::{ServerProcess, TOPIC, create_topic, read_topic, stand_in};

const ARN: &str = "arn:aws:kafka:ap-southeast-1:123456789012:cluster/booking/abcd-1234";

fn environment(endpoint: &str) -> impl Fn(&str) -> Option<String> + use<> {
    booking_core::config::fixed_lookup(&[
        ("MSK_CLUSTER_ARN", ARN),
        ("KAFKA_TOPIC", TOPIC),
        ("AWS_REGION", "ap-southeast-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ("AWS_ENDPOINT_URL_KAFKA", endpoint),
    ])
}

#[tokio::test]
async fn the_brokers_msk_names_are_the_ones_published_to() {
    let broker = ServerProcess::broker();
    create_topic(&broker).await;
    // The answer as the MSK API documents it (camelCase); no IAM or TLS list, so the
    // plaintext one is taken.
    let answer = serde_json::json!({ "bootstrapBrokerString": broker.address() }).to_string();
    let (url, msk) = stand_in("200 OK", answer).await;
    let config = KafkaConfig::from_lookup(environment(&url)).expect("valid settings");

    let publisher = tokio::time::timeout(
        Duration::from_secs(20),
        KafkaPublisher::from_config(&config),
    )
    .await
    .expect("discovery answers in time");
    let record = EventRecord {
        key: "900127015527".into(),
        payload: r#"{"eventId":"e-1","type":"booking.created"}"#.into(),
    };
    publisher.publish(&[record]).await.expect("published");

    let request = msk.await.unwrap();
    let lower = request.to_ascii_lowercase();
    let path = format!(
        "get /v1/clusters/{}/bootstrap-brokers",
        ARN.replace(':', "%3a").replace('/', "%2f")
    );
    assert!(lower.starts_with(&path), "{request}");
    assert!(
        lower.contains("/ap-southeast-1/kafka/aws4_request"),
        "signed for the region and MSK: {request}"
    );
    let records = read_topic(&broker, 1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, "900127015527");
}

#[tokio::test]
async fn a_refused_discovery_leaves_events_to_the_outbox_and_names_the_cluster() {
    let (url, msk) = stand_in(
        "404 Not Found",
        r#"{"message":"Cluster not found"}"#.to_owned(),
    )
    .await;
    let config = KafkaConfig::from_lookup(environment(&url)).expect("valid settings");
    // The function still starts: bookings must not depend on the broker.
    let publisher = KafkaPublisher::from_config(&config).await;
    msk.await.unwrap();
    let record = EventRecord {
        key: "900127015527".into(),
        payload: "{}".into(),
    };
    let error = tokio::time::timeout(Duration::from_secs(30), publisher.publish(&[record]))
        .await
        .expect("an answer in time")
        .unwrap_err();
    assert!(error.to_string().contains(ARN), "{error}");
}
