//! Use cases: book one slot for one person, look their booking up, cancel it; and tell
//! downstream systems about every change.
use std::time::{Duration, SystemTime};

use crate::domain::{Booking, BookingEvent, EventStamp, EventType, MySejahteraId};
use crate::outbox::{DeliveryError, PublishBreaker, deliver};
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
    #[error("this person holds no booking")]
    NotBooked,
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

/// Reading a booking needs the store only, so get-booking starts without a broker.
pub struct BookingLookup<S> {
    store: S,
}

impl<S: SlotStore> BookingLookup<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The person's booking as stored.
    pub async fn find(&self, id: &MySejahteraId) -> Result<Booking, BookingError> {
        self.store
            .find_booking(id)
            .await?
            .ok_or(BookingError::NotBooked)
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
        match self.store.book(&event.booking, &event.record()).await? {
            BookingOutcome::Created {
                outbox_id,
                sequence,
            } => {
                let event = event.sequenced(sequence);
                self.publish(OutboxEntry {
                    id: outbox_id,
                    record: event.record(),
                })
                .await;
                Ok(BookingConfirmed {
                    booking: event.booking,
                    newly_created: true,
                })
            }
            BookingOutcome::AlreadyHeld => Ok(BookingConfirmed {
                booking: event.booking,
                newly_created: false,
            }),
            BookingOutcome::AlreadyBooked => Err(BookingError::AlreadyBooked),
            BookingOutcome::FullyBooked => Err(BookingError::FullyBooked),
            BookingOutcome::UnknownStation => Err(BookingError::UnknownStation(
                event.booking.location.to_string(),
            )),
            BookingOutcome::UnknownDate => {
                Err(BookingError::UnknownDate(event.booking.date.to_string()))
            }
        }
    }

    /// Removes the person's booking and frees its slot; afterwards they may book again. A second
    /// cancel finds nothing, so a client retrying a cancel learns it is already done. The
    /// `booking.cancelled` event enters the outbox in the same atomic step.
    pub async fn cancel(&self, id: &MySejahteraId) -> Result<Booking, BookingError> {
        let stamp = EventStamp::new(SystemTime::now());
        let cancelled = self
            .store
            .cancel(id, &stamp)
            .await?
            .ok_or(BookingError::NotBooked)?;
        let event = BookingEvent::stamped(EventType::BookingCancelled, cancelled.booking, stamp)
            .sequenced(cancelled.sequence);
        self.publish(OutboxEntry {
            id: cancelled.outbox_id,
            record: event.record(),
        })
        .await;
        Ok(event.booking)
    }

    async fn publish(&self, entry: OutboxEntry) {
        if !self.breaker.allows() {
            return;
        }
        let entries = [entry];
        match deliver(&self.outbox, &self.publisher, &entries, self.timeout).await {
            Ok(()) => self.breaker.succeeded(),
            // The broker took it; the relay will publish it again under the same event id.
            Err(error @ DeliveryError::Remove(_)) => {
                self.breaker.succeeded();
                tracing::warn!(%error, outbox_id = %entries[0].id, "published event left in the outbox");
            }
            Err(error @ DeliveryError::Publish(_)) => {
                self.breaker.trip();
                tracing::warn!(%error, outbox_id = %entries[0].id, "event left in the outbox for the relay");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::valid_request;
    use crate::ports::{Cancelled, MockEventPublisher, MockOutbox, MockSlotStore, PublishError};

    fn settings() -> PublishSettings {
        PublishSettings {
            timeout: Duration::from_secs(1),
            cool_down: Duration::from_secs(60),
        }
    }

    fn created() -> Result<BookingOutcome, StoreError> {
        Ok(BookingOutcome::Created {
            outbox_id: "1-0".into(),
            sequence: 3,
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

    #[tokio::test]
    async fn looking_a_booking_up() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let down = StoreError::Unavailable("timed out".into());
        type Case = (
            &'static str,
            Result<Option<Booking>, StoreError>,
            Result<Booking, BookingError>,
        );
        let cases: Vec<Case> = vec![
            (
                "a held booking is returned",
                Ok(Some(booking.clone())),
                Ok(booking.clone()),
            ),
            (
                "no booking is not found",
                Ok(None),
                Err(BookingError::NotBooked),
            ),
            (
                "a store fault is passed on, not taken for 'no booking'",
                Err(down.clone()),
                Err(BookingError::Store(down)),
            ),
        ];
        let id = booking.mysejahtera_id.clone();
        for (name, reply, expected) in cases {
            let mut store = MockSlotStore::new();
            let wanted = id.clone();
            store
                .expect_find_booking()
                .withf(move |asked| *asked == wanted)
                .times(1)
                .return_once(move |_| reply);
            store.expect_cancel().never();
            assert_eq!(
                BookingLookup::new(store).find(&id).await,
                expected,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn cancelling_a_booking_publishes_its_cancellation() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let down = StoreError::Unavailable("timed out".into());
        let held = Cancelled {
            booking: booking.clone(),
            outbox_id: "7-0".into(),
            sequence: 2,
        };
        type Case = (
            &'static str,
            Result<Option<Cancelled>, StoreError>,
            Result<Booking, BookingError>,
        );
        let cases: Vec<Case> = vec![
            (
                "a held booking is cancelled",
                Ok(Some(held)),
                Ok(booking.clone()),
            ),
            (
                "nothing to cancel is not found",
                Ok(None),
                Err(BookingError::NotBooked),
            ),
            (
                "a store fault is passed on, not taken for 'nothing to cancel'",
                Err(down.clone()),
                Err(BookingError::Store(down)),
            ),
        ];
        let id = booking.mysejahtera_id.clone();
        for (name, reply, expected) in cases {
            let publishes = usize::from(expected.is_ok());
            let mut store = MockSlotStore::new();
            let wanted = id.clone();
            store
                .expect_cancel()
                .withf(move |asked, stamp| *asked == wanted && stamp.event_id.len() == 36)
                .times(1)
                .return_once(move |_, _| reply);
            store.expect_find_booking().never();
            let mut publisher = MockEventPublisher::new();
            publisher
                .expect_publish()
                .withf(|records| {
                    records.len() == 1
                        && records[0].key == "900127015527"
                        && records[0]
                            .payload
                            .contains("\"type\":\"booking.cancelled\"")
                })
                .times(publishes)
                .returning(|_| Ok(()));
            let mut outbox = MockOutbox::new();
            outbox
                .expect_remove()
                .withf(|ids| ids == ["7-0"])
                .times(publishes)
                .returning(|_| Ok(()));
            let service = BookingService::new(store, outbox, publisher, settings());
            assert_eq!(service.cancel(&id).await, expected, "{name}");
        }
    }
}
