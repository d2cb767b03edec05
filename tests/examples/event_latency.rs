//! What publishing an event adds to a booking: books N distinct people with the broker up, then
//! N more with the broker unreachable (the breaker leaves their events to the relay), and prints
//! p50/p99 of each. Run by `make bench-events`, which starts Redis and the broker.
use std::time::{Duration, Instant};

use booking_core::booking::{BookingService, PublishSettings};
use booking_core::domain::{Booking, BookingRequest};
use booking_core::ports::EventPublisher;
use booking_core::seed::{SeedRequest, SeedService, StationCapacity};
use booking_kafka::{KafkaEndpoint, KafkaPublisher, Security};
use booking_redis::{RedisStore, RedisTimeouts};

#[path = "../person_id.rs"]
mod people;
use people::person_id;

fn booking(id: &str) -> Booking {
    Booking::parse(&BookingRequest {
        mysejahtera_id: id.into(),
        first_name: "Fadhil".into(),
        last_name: "Yaacob".into(),
        address: "Kuala Lumpur".into(),
        location: "BENCH".into(),
        phone_number: "0123456789".into(),
        date: "20210516".into(),
    })
    .expect("a valid booking")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure<P: EventPublisher>(
    store: &RedisStore,
    publisher: P,
    first_person: usize,
    count: usize,
) -> Vec<Duration> {
    let service = BookingService::new(
        store.clone(),
        store.clone(),
        publisher,
        PublishSettings {
            timeout: Duration::from_secs(1),
            cool_down: Duration::from_secs(3600),
        },
        booking_core::ownership::BookingReferences::new(b"event_latency example key".to_vec()),
    );
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count {
        let started = Instant::now();
        service
            .book(booking(&person_id(first_person + i)), None)
            .await
            .expect("capacity is ample");
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    latencies
}

#[tokio::main]
async fn main() {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is required"));
    let count: usize = std::env::var("BOOKINGS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let store = RedisStore::connect(&env("REDIS_URL"), RedisTimeouts::default()).unwrap();
    SeedService::new(store.clone())
        .seed(SeedRequest {
            start_date: Some("20210516".into()),
            days: Some(1),
            stations: Some(vec![StationCapacity::new("BENCH", 1_000_000)]),
            reset: Some(true),
        })
        .await
        .unwrap();
    let broker = |address: String| {
        KafkaPublisher::new(
            KafkaEndpoint {
                brokers: vec![address],
                security: Security::Plaintext,
            },
            "booking-slot",
        )
    };
    // People numbered from the process id, so runs against one Redis rarely meet.
    let run = usize::try_from(std::process::id()).unwrap_or(0) % 1000 * 2 * count;
    let up = measure(&store, broker(env("KAFKA_BROKERS")), run, count).await;
    // Port 9 (discard) on loopback: refused at once, as a dead broker behind the breaker.
    let down = measure(&store, broker("127.0.0.1:9".into()), run + count, count).await;

    println!("booking latency over {count} sequential bookings (Redis and broker on loopback)");
    println!("{:<28} {:>10} {:>10}", "", "p50", "p99");
    for (name, sorted) in [
        ("with publish (broker up)", &up),
        ("store only (broker down)", &down),
    ] {
        println!(
            "{name:<28} {:>8.3}ms {:>8.3}ms",
            percentile(sorted, 0.50).as_secs_f64() * 1e3,
            percentile(sorted, 0.99).as_secs_f64() * 1e3
        );
    }
    let added =
        |p| percentile(&up, p).as_secs_f64() * 1e3 - percentile(&down, p).as_secs_f64() * 1e3;
    println!(
        "{:<28} {:>8.3}ms {:>8.3}ms",
        "added by publishing",
        added(0.50),
        added(0.99)
    );
}
