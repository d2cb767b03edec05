use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::booking::{BookedSlot, Booking};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventType {
    #[serde(rename = "booking.created")]
    BookingCreated,
    #[serde(rename = "booking.cancelled")]
    BookingCancelled,
    /// The booking moved to another slot (`from`, `to`); its reference stays.
    #[serde(rename = "booking.rescheduled")]
    BookingRescheduled,
}

/// What downstream systems (SMS, reporting) learn about a booking change. Consumers dedupe by
/// `event_id`: an event can arrive twice (a relay retry), never zero times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingEvent {
    /// The event's number among the person's events, assigned by the store in the same atomic
    /// step as the change: consumers order one person's events by it. First, because the store
    /// prepends it to the event the client composed (None until then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// RFC 3339, UTC, milliseconds.
    pub occurred_at: String,
    /// The booking after the change (a rescheduled booking at its new slot).
    pub booking: Booking,
    /// A rescheduling's old slot, so a consumer (an SMS: "moved from ... to ...") needs no
    /// earlier event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<BookedSlot>,
    /// A rescheduling's new slot (the booking's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<BookedSlot>,
}

/// An event's identity and time, decided before the store writes the event: a cancellation's
/// event is composed inside the store's script, which knows the booking only once it reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStamp {
    pub event_id: String,
    /// RFC 3339, UTC, milliseconds.
    pub occurred_at: String,
}

impl EventStamp {
    pub fn new(at: SystemTime) -> Self {
        Self {
            event_id: uuid::Uuid::new_v4().to_string(),
            occurred_at: DateTime::<Utc>::from(at).to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

impl BookingEvent {
    pub fn new(event_type: EventType, booking: Booking, at: SystemTime) -> Self {
        Self::stamped(event_type, booking, EventStamp::new(at))
    }

    pub fn stamped(event_type: EventType, booking: Booking, stamp: EventStamp) -> Self {
        Self {
            sequence: None,
            event_id: stamp.event_id,
            event_type,
            occurred_at: stamp.occurred_at,
            booking,
            from: None,
            to: None,
        }
    }

    /// `booking` (already at its new slot) moved from `from`.
    pub fn rescheduled(booking: Booking, from: BookedSlot, stamp: EventStamp) -> Self {
        let to = Some(booking.slot());
        Self {
            from: Some(from),
            to,
            ..Self::stamped(EventType::BookingRescheduled, booking, stamp)
        }
    }

    /// The event as numbered by the store.
    pub fn sequenced(self, sequence: u64) -> Self {
        Self {
            sequence: Some(sequence),
            ..self
        }
    }

    /// The broker record: keyed by the person's ID, so one person's events share a partition.
    pub fn record(&self) -> EventRecord {
        EventRecord {
            key: self.booking.mysejahtera_id.as_str().to_owned(),
            payload: serde_json::to_string(self).expect("an event is plain data"),
        }
    }
}

/// An event as the outbox stores it and the broker receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub key: String,
    pub payload: String,
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::domain::valid_request;

    #[test]
    fn the_wire_format_is_stable() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let at = UNIX_EPOCH + Duration::from_millis(1_621_123_200_123);
        let event = BookingEvent::new(EventType::BookingCreated, booking, at);
        let record = event.record();
        assert_eq!(record.key, "900127015527");
        let value: serde_json::Value = serde_json::from_str(&record.payload).unwrap();
        assert_eq!(value["type"], "booking.created");
        assert_eq!(value["occurredAt"], "2021-05-16T00:00:00.123Z");
        assert_eq!(value["booking"]["mysejahteraId"], "900127015527");
        assert_eq!(value["eventId"].as_str().unwrap().len(), 36);
        assert!(value.get("sequence").is_none(), "numbered by the store");
        // The store's scripts prepend the number to the object; the Rust form must match it
        // byte for byte, so the booking's own publish and the relay's send the same event.
        let numbered = event.clone().sequenced(42).record();
        assert_eq!(
            numbered.payload,
            format!("{{\"sequence\":42,{}", &record.payload[1..])
        );
        let other = BookingEvent::new(EventType::BookingCancelled, event.booking.clone(), at);
        assert_ne!(other.event_id, event.event_id, "every event has its own id");
        assert_eq!(
            serde_json::to_value(&other).unwrap()["type"],
            "booking.cancelled"
        );
        assert!(value.get("from").is_none(), "only a rescheduling has slots");
    }

    #[test]
    fn a_rescheduling_names_both_slots() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let to = BookedSlot::parse("UM", "20210520").unwrap();
        let stamp = EventStamp::new(UNIX_EPOCH);
        let event = BookingEvent::rescheduled(booking.moved_to(&to), booking.slot(), stamp);
        let value: serde_json::Value = serde_json::from_str(&event.record().payload).unwrap();
        assert_eq!(value["type"], "booking.rescheduled");
        assert_eq!(
            value["from"],
            serde_json::json!({"location": "PWTC", "date": "20210516"})
        );
        assert_eq!(
            value["to"],
            serde_json::json!({"location": "UM", "date": "20210520"})
        );
        assert_eq!(value["booking"]["location"], "UM");
        assert_eq!(value["booking"]["date"], "20210520");
    }
}
