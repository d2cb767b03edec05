//! The CloudWatch EMF lines a booking function prints: metric names, units and dimensions.
//! A test binary of its own, because the EMF recorder is process-global and the other tests
//! install the Prometheus one.
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::time::Duration;

use booking_core::booking::{BookingService, PublishSettings};
use booking_core::outbox::{OutboxRelay, RelaySettings};
use booking_core::service_metrics as metrics;
use booking_kafka::{KafkaEndpoint, KafkaPublisher, Security};
use booking_runtime::metrics::emf_collector;
use serde_json::Value;

use helpers::{TOPIC, booking_json, person_id, publisher, spawn_app};

/// One EMF document: its dimension names, metric names and units, and the values beside them.
struct Document(Value);

impl Document {
    fn dimensions(&self) -> Vec<String> {
        self.0["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect()
    }

    fn unit(&self, metric: &str) -> Option<String> {
        self.0["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Name"] == metric)
            .map(|m| m["Unit"].as_str().unwrap_or("").to_owned())
    }
}

/// The value of `metric` in the document whose dimensions (beyond `function`) are `labels`.
fn find<'a>(documents: &'a [Document], metric: &str, labels: &[(&str, &str)]) -> &'a Value {
    let wanted: Vec<String> = std::iter::once("function".to_owned())
        .chain(labels.iter().map(|(k, _)| (*k).to_owned()))
        .collect();
    documents
        .iter()
        .find(|d| {
            d.unit(metric).is_some()
                && d.dimensions() == wanted
                && labels.iter().all(|(k, v)| d.0[*k] == *v)
        })
        .map(|d| &d.0[metric])
        .unwrap_or_else(|| {
            let all: Vec<&Value> = documents.iter().map(|d| &d.0).collect();
            panic!("no {metric} {labels:?} in {all:#?}")
        })
}

fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_booking_function_prints_emf_for_every_outcome() {
    let collector = emf_collector("create-booking").expect("the only recorder");
    let app = spawn_app().await;
    app.seed(1, &[("PWTC", 1), ("UM", 5)]).await;

    let booked = app.book(&person_id(1), "PWTC", "20210516").await;
    assert_eq!(booked.status, 201);
    let reference = booked.body["bookingReference"].as_str().unwrap().to_owned();
    assert_eq!(
        app.book(&person_id(1), "PWTC", "20210516").await.status,
        200
    );
    let refusals = [
        app.book(&person_id(2), "PWTC", "20210516").await,
        app.book(&person_id(1), "UM", "20210516").await,
        app.book(&person_id(2), "NOPE", "20210516").await,
        app.post_booking("{\"mysejahteraId\":").await,
    ];
    let codes: Vec<&str> = refusals.iter().map(|r| r.error_code()).collect();
    assert_eq!(
        codes,
        [
            "fully_booked",
            "already_booked",
            "station_not_found",
            "malformed_json"
        ]
    );
    assert_eq!(app.cancel_booking(&person_id(1)).await.status, 200);
    // A broker that refuses: the event stays in the outbox for the relay, which reports it.
    let endpoint = KafkaEndpoint {
        brokers: vec![format!("127.0.0.1:{}", unused_port())],
        security: Security::Plaintext,
    };
    let offline = BookingService::new(
        app.store.clone(),
        app.store.clone(),
        KafkaPublisher::new(endpoint, TOPIC),
        PublishSettings {
            timeout: Duration::from_secs(2),
            cool_down: Duration::ZERO,
        },
        helpers::test_references(),
    );
    let request = helpers::request(
        lambda_http::http::Method::POST,
        "/booking",
        booking_json("660606065566", "UM", "20210516"),
    );
    assert_eq!(
        booking_http::create_booking(&offline, request)
            .await
            .status(),
        201
    );
    let relay = OutboxRelay::new(
        app.store.clone(),
        publisher(&app.broker),
        RelaySettings {
            // Leave the waiting event where it is, so the depth shows it.
            min_age: Duration::from_secs(3600),
            ..RelaySettings::default()
        },
    );
    assert_eq!(relay.run().await.unwrap().remaining, 1);

    collector.set_property("requestId", "emf-test-request");
    let (printed, documents) = flush(collector);
    assert!(!documents.is_empty());
    for document in &documents {
        assert_eq!(
            document.0["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            metrics::NAMESPACE
        );
        assert_eq!(document.0["function"], "create-booking");
        assert_eq!(document.0["requestId"], "emf-test-request");
    }

    assert_eq!(*find(&documents, metrics::BOOKINGS_CREATED, &[]), 2);
    assert_eq!(*find(&documents, metrics::BOOKINGS_REPEATED, &[]), 1);
    for reason in ["fully_booked", "already_booked", "not_found", "invalid"] {
        let count = find(
            &documents,
            metrics::BOOKINGS_REJECTED,
            &[("reason", reason)],
        );
        assert_eq!(*count, 1, "{reason}");
    }
    assert_eq!(*find(&documents, metrics::BOOKINGS_CANCELLED, &[]), 1);
    // Five attempts reached the booking script (the malformed one did not), plus the offline one.
    let book = find(&documents, metrics::STORE_LATENCY, &[("operation", "book")]);
    let book = book.as_array().unwrap();
    assert_eq!(book.len(), 6, "{book:?}");
    assert!(book.iter().all(|ms| ms.as_f64().unwrap() > 0.0));
    let ok = find(&documents, metrics::BROKER_LATENCY, &[("outcome", "ok")]);
    assert_eq!(
        ok.as_array().unwrap().len(),
        2,
        "the booking and the cancellation"
    );
    let failed = find(&documents, metrics::BROKER_LATENCY, &[("outcome", "error")]);
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(*find(&documents, metrics::OUTBOX_DEPTH, &[]), 1.0);
    // Counters print their change since the last flush, and only when it is not zero.
    assert!(!printed.contains(metrics::OUTBOX_PUBLISHED));
    let units = |metric: &str| documents.iter().find_map(|d| d.unit(metric)).unwrap();
    assert_eq!(units(metrics::STORE_LATENCY), "Milliseconds");
    assert_eq!(units(metrics::BOOKINGS_CREATED), "Count");
    assert!(!printed.contains(&person_id(1)) && !printed.contains("Fadhil"));
    assert!(
        !printed.contains(&reference),
        "no booking reference in a metric"
    );

    // The next invocation: the relay publishes what waited.
    let relay = OutboxRelay::new(
        app.store.clone(),
        publisher(&app.broker),
        RelaySettings {
            min_age: Duration::ZERO,
            ..RelaySettings::default()
        },
    );
    assert_eq!(relay.run().await.unwrap().published, 1);
    let (printed, documents) = flush(collector);
    assert_eq!(*find(&documents, metrics::OUTBOX_PUBLISHED, &[]), 1);
    assert_eq!(*find(&documents, metrics::OUTBOX_DEPTH, &[]), 0.0);
    assert!(!printed.contains(metrics::BOOKINGS_CREATED), "{printed}");
    assert!(!printed.contains(metrics::RELAY_FAILURES), "{printed}");

    // A relay run during a broker outage still reports the depth, and counts as a failure.
    let request = helpers::request(
        lambda_http::http::Method::POST,
        "/booking",
        booking_json("550505055055", "UM", "20210516"),
    );
    let booked = booking_http::create_booking(&offline, request).await;
    assert_eq!(booked.status(), 201);
    let stranded = OutboxRelay::new(
        app.store.clone(),
        KafkaPublisher::new(
            KafkaEndpoint {
                brokers: vec![format!("127.0.0.1:{}", unused_port())],
                security: Security::Plaintext,
            },
            TOPIC,
        ),
        RelaySettings {
            min_age: Duration::ZERO,
            ..RelaySettings::default()
        },
    );
    assert!(stranded.run().await.is_err());
    let (_, documents) = flush(collector);
    assert_eq!(*find(&documents, metrics::OUTBOX_DEPTH, &[]), 1.0);
    assert_eq!(*find(&documents, metrics::RELAY_FAILURES, &[]), 1);
}

fn flush(collector: &booking_runtime::metrics::Collector) -> (String, Vec<Document>) {
    let mut printed = Vec::new();
    collector.flush(&mut printed).unwrap();
    let printed = String::from_utf8(printed).unwrap();
    let documents = printed
        .lines()
        .map(|line| Document(serde_json::from_str(line).unwrap()))
        .collect();
    (printed, documents)
}
