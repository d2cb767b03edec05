//! What the service counts and times, through the `metrics` facade only: use cases and adapters
//! record here without knowing which recorder (EMF in Lambda, Prometheus in local-api, none in
//! unit tests) is installed; `adapters::telemetry::metrics` installs one.
//!
//! Dimensions stay few and bounded: the function (Lambda only), a rejection `reason`, a store
//! `operation`, a broker `outcome`. Never the person, and never the station: a location in a
//! refused request is whatever the client sent, so it would be an unbounded dimension.
use std::future::Future;
use std::time::{Duration, Instant};

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use tracing::Instrument;

/// New bookings stored (a repeated identical request is not one).
pub const BOOKINGS_CREATED: &str = "bookings_created";
/// Identical booking requests answered 200 with the booking already held (client retries).
pub const BOOKINGS_REPEATED: &str = "bookings_repeated";
/// Booking requests refused, by `reason` (see [`RejectReason`]).
pub const BOOKINGS_REJECTED: &str = "bookings_rejected";
/// Bookings cancelled (their slot is free again).
pub const BOOKINGS_CANCELLED: &str = "bookings_cancelled";
/// Bookings moved to another slot (a move to the slot already held is not one).
pub const BOOKINGS_RESCHEDULED: &str = "bookings_rescheduled";
/// Milliseconds per Redis round trip, by `operation`.
pub const STORE_LATENCY: &str = "store_latency_ms";
/// Milliseconds per publish to the broker (until acknowledged, refused or timed out), by
/// `outcome`.
pub const BROKER_LATENCY: &str = "broker_latency_ms";
/// Events waiting in the outbox after a relay run.
pub const OUTBOX_DEPTH: &str = "outbox_depth";
/// Events the relay published.
pub const OUTBOX_PUBLISHED: &str = "outbox_published";
/// Relay runs that ended with an error (broker or store down, lease lost).
pub const RELAY_FAILURES: &str = "relay_failures";

/// Cold starts that found Redis under an evicting `maxmemory-policy` (bookings can vanish).
pub const REDIS_EVICTING_POLICY: &str = "redis_evicting_policy";

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "VaccineBooking";

/// Why a booking request was refused; the `reason` dimension of [`BOOKINGS_REJECTED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    FullyBooked,
    AlreadyBooked,
    /// The request itself was wrong: a field, the JSON, the media type, the size, the method.
    Invalid,
    /// No such station, or no slots on that date.
    NotFound,
    /// The store failed or did not answer: nothing was confirmed.
    StoreError,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullyBooked => "fully_booked",
            Self::AlreadyBooked => "already_booked",
            Self::Invalid => "invalid",
            Self::NotFound => "not_found",
            Self::StoreError => "store_error",
        }
    }

    /// The reason behind one of the API's stable error codes.
    pub fn from_error_code(code: &str) -> Self {
        match code {
            "fully_booked" => Self::FullyBooked,
            "already_booked" => Self::AlreadyBooked,
            "station_not_found" | "date_not_found" => Self::NotFound,
            "store_unavailable" | "internal_error" => Self::StoreError,
            _ => Self::Invalid,
        }
    }
}

pub fn booking_created(newly_created: bool) {
    let name = if newly_created {
        BOOKINGS_CREATED
    } else {
        BOOKINGS_REPEATED
    };
    counter!(name).increment(1);
}

pub fn booking_rejected(reason: RejectReason) {
    counter!(BOOKINGS_REJECTED, "reason" => reason.as_str()).increment(1);
}

pub fn booking_cancelled() {
    counter!(BOOKINGS_CANCELLED).increment(1);
}

pub fn booking_rescheduled() {
    counter!(BOOKINGS_RESCHEDULED).increment(1);
}

/// Runs one store round trip inside a span named after it and records its latency.
pub async fn store_call<T>(operation: &'static str, call: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = call
        .instrument(tracing::info_span!("redis", operation))
        .await;
    metrics::histogram!(STORE_LATENCY, "operation" => operation).record(millis(started.elapsed()));
    result
}

/// `outcome` is `ok`, `error` or `timeout`.
pub fn broker_call(outcome: &'static str, elapsed: Duration) {
    metrics::histogram!(BROKER_LATENCY, "outcome" => outcome).record(millis(elapsed));
}

/// `depth` is None when the store could not tell it (Redis down): no made-up value then.
pub fn relay_run(published: u64, depth: Option<u64>) {
    counter!(OUTBOX_PUBLISHED).increment(published);
    if let Some(depth) = depth {
        // Gauges are f64; an outbox deeper than 2^53 is not a concern.
        #[allow(clippy::cast_precision_loss)]
        gauge!(OUTBOX_DEPTH).set(depth as f64);
    }
}

pub fn relay_failed() {
    counter!(RELAY_FAILURES).increment(1);
}

pub fn redis_evicting_policy() {
    counter!(REDIS_EVICTING_POLICY).increment(1);
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// Units and help texts: CloudWatch shows the unit, Prometheus the help.
pub fn describe() {
    describe_waiting_room();
    describe_counter!(BOOKINGS_CREATED, Unit::Count, "New bookings stored");
    describe_counter!(
        BOOKINGS_REPEATED,
        Unit::Count,
        "Identical booking requests answered with the booking already held"
    );
    describe_counter!(
        BOOKINGS_REJECTED,
        Unit::Count,
        "Booking requests refused, by reason"
    );
    describe_counter!(BOOKINGS_CANCELLED, Unit::Count, "Bookings cancelled");
    describe_counter!(
        BOOKINGS_RESCHEDULED,
        Unit::Count,
        "Bookings moved to another slot"
    );
    describe_histogram!(
        STORE_LATENCY,
        Unit::Milliseconds,
        "Redis round trip, by operation"
    );
    describe_histogram!(
        BROKER_LATENCY,
        Unit::Milliseconds,
        "Publish to the broker until acknowledged, refused or timed out"
    );
    describe_gauge!(
        OUTBOX_DEPTH,
        Unit::Count,
        "Events waiting in the outbox after a relay run"
    );
    describe_counter!(OUTBOX_PUBLISHED, Unit::Count, "Events the relay published");
    describe_counter!(
        RELAY_FAILURES,
        Unit::Count,
        "Relay runs that ended with an error (broker or store down, lease lost)"
    );
    describe_counter!(
        REDIS_EVICTING_POLICY,
        Unit::Count,
        "Cold starts that found Redis under an evicting maxmemory-policy"
    );
}

/// People who took a place in the waiting room (a repeated join is not one).
pub const QUEUE_JOINED: &str = "queue_joined";
pub const QUEUE_FULL: &str = "queue_full";
/// The waiting room's serving number after an inlet tick: every position up to it is let in.
pub const QUEUE_SERVING: &str = "queue_serving";
/// 1 while the waiting room is open, 0 once the inlet found no slot left.
pub const QUEUE_OPEN: &str = "queue_open";
/// Slots left over every station, as the inlet last counted them.
pub const SLOTS_LEFT: &str = "slots_left";
/// Bookings refused for want of a valid admission token, by `reason` (missing, invalid,
/// expired).
pub const ADMISSIONS_REFUSED: &str = "admissions_refused";

pub fn queue_joined(newly_queued: bool) {
    if newly_queued {
        counter!(QUEUE_JOINED).increment(1);
    }
}

/// A join refused because every place of the room is taken.
pub fn queue_full() {
    counter!(QUEUE_FULL).increment(1);
}

#[allow(clippy::cast_precision_loss)] // Gauges are f64; counts stay far below 2^53.
pub fn queue_progress(serving: u64, open: bool, slots_left: u64) {
    gauge!(QUEUE_SERVING).set(serving as f64);
    gauge!(QUEUE_OPEN).set(if open { 1.0 } else { 0.0 });
    gauge!(SLOTS_LEFT).set(slots_left as f64);
}

pub fn admission_refused(reason: &'static str) {
    counter!(ADMISSIONS_REFUSED, "reason" => reason).increment(1);
}

/// Units and help texts of the waiting room's metrics.
pub fn describe_waiting_room() {
    describe_counter!(
        QUEUE_JOINED,
        Unit::Count,
        "People who took a place in the waiting room"
    );
    describe_counter!(
        QUEUE_FULL,
        Unit::Count,
        "Joins refused because the room had given out all its places"
    );
    describe_gauge!(QUEUE_SERVING, Unit::Count, "Highest queue position let in");
    describe_gauge!(QUEUE_OPEN, Unit::Count, "1 while any slot is left, else 0");
    describe_gauge!(SLOTS_LEFT, Unit::Count, "Slots left over every station");
    describe_counter!(
        ADMISSIONS_REFUSED,
        Unit::Count,
        "Bookings refused for want of a valid admission token, by reason"
    );
    describe_counter!(
        REQUESTS_SHED,
        Unit::Count,
        "Requests answered 429 at the bound of requests in flight"
    );
}

/// Requests answered 429 at once because the server was at its bound of requests in flight.
pub const REQUESTS_SHED: &str = "requests_shed";

pub fn request_shed() {
    counter!(REQUESTS_SHED).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_a_bounded_reason() {
        let cases = [
            ("fully_booked", "fully_booked"),
            ("already_booked", "already_booked"),
            ("station_not_found", "not_found"),
            ("date_not_found", "not_found"),
            ("invalid_field", "invalid"),
            ("malformed_json", "invalid"),
            ("payload_too_large", "invalid"),
            ("unsupported_media_type", "invalid"),
            ("method_not_allowed", "invalid"),
            ("store_unavailable", "store_error"),
            ("internal_error", "store_error"),
        ];
        for (code, reason) in cases {
            assert_eq!(
                RejectReason::from_error_code(code).as_str(),
                reason,
                "{code}"
            );
        }
    }
}
