//! Use case: book one slot for one person, and tell downstream systems about it.
use std::time::{Duration, SystemTime};

use crate::domain::{Booking, BookingEvent, EventType};
use crate::outbox::{PublishBreaker, deliver};
use crate::ports::{BookingOutcome, EventPublisher, Outbox, OutboxEntry, SlotStore, StoreError};

/// A booking the store holds after the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingConfirmed {
    pub booking: Booking,
    /// False when the identical booking was already held (the request was a retry).
    pub newly_created: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BookingError {
    #[error("this person already holds a booking")]
    AlreadyBooked,
    #[error("no slots are left at this station on this date")]
    FullyBooked,
    #[error("no station is called {0}")]
    UnknownStation(String),
    #[error("the station has no slots on {0}")]
    UnknownDate(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the booking path publishes its own events.
#[derive(Debug, Clone, Copy)]
pub struct PublishSettings {
    /// The longest a booking waits for the broker before leaving its event to the relay.
    pub timeout: Duration,
    /// After a failure, bookings skip publishing this long (the relay catches up).
    pub cool_down: Duration,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(1000),
            cool_down: Duration::from_secs(5),
        }
    }
}

pub struct BookingService<S, O, P> {
    store: S,
    outbox: O,
    publisher: P,
    timeout: Duration,
    breaker: PublishBreaker,
}

impl<S: SlotStore, O: Outbox, P: EventPublisher> BookingService<S, O, P> {
    pub fn new(store: S, outbox: O, publisher: P, settings: PublishSettings) -> Self {
        Self {
            store,
            outbox,
            publisher,
            timeout: settings.timeout,
            breaker: PublishBreaker::new(settings.cool_down),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Success only when the store confirmed the booking is held; any doubt is an error. The
    /// event is in the outbox once the booking is; publishing it here is an optimisation that
    /// may fail without failing the booking.
    pub async fn book(&self, booking: Booking) -> Result<BookingConfirmed, BookingError> {
        let event = BookingEvent::new(EventType::BookingCreated, booking, SystemTime::now());
        let record = event.record();
        let booking = event.booking;
        match self.store.book(&booking, &record).await? {
            BookingOutcome::Created { outbox_id } => {
                self.publish(OutboxEntry {
                    id: outbox_id,
                    record,
                })
                .await;
                Ok(BookingConfirmed {
                    booking,
                    newly_created: true,
                })
            }
            BookingOutcome::AlreadyHeld => Ok(BookingConfirmed {
                booking,
                newly_created: false,
            }),
            BookingOutcome::AlreadyBooked => Err(BookingError::AlreadyBooked),
            BookingOutcome::FullyBooked => Err(BookingError::FullyBooked),
            BookingOutcome::UnknownStation => {
                Err(BookingError::UnknownStation(booking.location.to_string()))
            }
            BookingOutcome::UnknownDate => Err(BookingError::UnknownDate(booking.date.to_string())),
        }
    }

    async fn publish(&self, entry: OutboxEntry) {
        if self.breaker.is_open() {
            return;
        }
        let entries = [entry];
        if let Err(error) = deliver(&self.outbox, &self.publisher, &entries, self.timeout).await {
            self.breaker.trip();
            tracing::warn!(%error, outbox_id = %entries[0].id, "event left in the outbox for the relay");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::valid_request;
    use crate::ports::{MockEventPublisher, MockOutbox, MockSlotStore, PublishError};

    fn settings() -> PublishSettings {
        PublishSettings {
            timeout: Duration::from_secs(1),
            cool_down: Duration::from_secs(60),
        }
    }

    fn created() -> Result<BookingOutcome, StoreError> {
        Ok(BookingOutcome::Created {
            outbox_id: "1-0".into(),
        })
    }

    #[tokio::test]
    async fn booking_rules() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let confirmed = |newly_created| {
            Ok(BookingConfirmed {
                booking: booking.clone(),
                newly_created,
            })
        };
        let down = StoreError::Unavailable("timed out".into());
        type Case = (
            &'static str,
            Result<BookingOutcome, StoreError>,
            Result<BookingConfirmed, BookingError>,
        );
        let cases: Vec<Case> = vec![
            ("a free slot books", created(), confirmed(true)),
            (
                "an identical retry confirms without a new booking",
                Ok(BookingOutcome::AlreadyHeld),
                confirmed(false),
            ),
            (
                "one booking per person",
                Ok(BookingOutcome::AlreadyBooked),
                Err(BookingError::AlreadyBooked),
            ),
            (
                "no slot left",
                Ok(BookingOutcome::FullyBooked),
                Err(BookingError::FullyBooked),
            ),
            (
                "unknown station",
                Ok(BookingOutcome::UnknownStation),
                Err(BookingError::UnknownStation("PWTC".into())),
            ),
            (
                "unknown date",
                Ok(BookingOutcome::UnknownDate),
                Err(BookingError::UnknownDate("20210516".into())),
            ),
            (
                "a store fault is never reported as success",
                Err(down.clone()),
                Err(BookingError::Store(down.clone())),
            ),
        ];
        for (name, reply, expected) in cases {
            let publishes = usize::from(matches!(reply, Ok(BookingOutcome::Created { .. })));
            let mut store = MockSlotStore::new();
            let wanted = booking.clone();
            store
                .expect_book()
                .withf(move |b, event| {
                    *b == wanted
                        && event.key == "900127015527"
                        && event.payload.contains("\"type\":\"booking.created\"")
                })
                .times(1)
                .return_once(move |_, _| reply);
            let mut publisher = MockEventPublisher::new();
            publisher
                .expect_publish()
                .times(publishes)
                .returning(|_| Ok(()));
            let mut outbox = MockOutbox::new();
            outbox
                .expect_remove()
                .withf(|ids| ids == ["1-0"])
                .times(publishes)
                .returning(|_| Ok(()));
            let service = BookingService::new(store, outbox, publisher, settings());
            assert_eq!(service.book(booking.clone()).await, expected, "{name}");
        }
    }

    #[tokio::test]
    async fn a_broker_outage_never_fails_a_booking_and_pauses_publishing() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let mut store = MockSlotStore::new();
        store.expect_book().times(2).returning(|_, _| created());
        let mut publisher = MockEventPublisher::new();
        // Only the first booking tries the broker; the second finds the breaker open.
        publisher
            .expect_publish()
            .times(1)
            .returning(|_| Err(PublishError::Unavailable("down".into())));
        let mut outbox = MockOutbox::new();
        outbox.expect_remove().never();
        let service = BookingService::new(store, outbox, publisher, settings());

        for _ in 0..2 {
            let confirmed = service.book(booking.clone()).await.unwrap();
            assert!(confirmed.newly_created);
        }
    }

    #[tokio::test]
    async fn a_failed_removal_still_confirms_the_booking() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let mut store = MockSlotStore::new();
        store.expect_book().returning(|_, _| created());
        let mut publisher = MockEventPublisher::new();
        publisher.expect_publish().returning(|_| Ok(()));
        let mut outbox = MockOutbox::new();
        outbox
            .expect_remove()
            .returning(|_| Err(StoreError::Unavailable("gone".into())));
        let service = BookingService::new(store, outbox, publisher, settings());

        assert!(service.book(booking).await.is_ok());
    }
}
