//! Use cases: book one slot for one person, look their booking up, cancel it; and tell
//! downstream systems about every change.
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{
    BookedSlot, Booking, BookingEvent, BookingOwnership, BookingReference, EventStamp, EventType,
    IdempotencyKey, MySejahteraId, ReferenceNonce,
};
use crate::identity::IdentityCheck;
use crate::outbox::{DeliveryError, PublishBreaker, deliver};
use crate::ownership::BookingReferences;
use crate::ports::{
    BookingOutcome, BookingStore, Clock, EventPublisher, MoveOutcome, Outbox, OutboxEntry,
    StoreError, SystemClock,
};

/// A booking the store holds after the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingConfirmed {
    pub booking: Booking,
    /// False when the identical booking was already held (the request was a retry).
    pub newly_created: bool,
    /// For the booker only: on a new booking, and on a retry within the retry window.
    pub reference: Option<BookingReference>,
}

/// A booking after a move was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescheduled {
    /// As stored now, at the asked slot.
    pub booking: Booking,
    /// False when it held that slot already (nothing changed, no event).
    pub moved: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BookingError {
    #[error("this person already holds a booking")]
    AlreadyBooked,
    /// Another request of this person (for another booking) is being decided (Redis Cluster).
    #[error("another booking request of this person is in progress")]
    InProgress,
    #[error("no slots are left at this station on this date")]
    FullyBooked,
    #[error("no station is called {0}")]
    UnknownStation(String),
    #[error("the station has no slots on {0}")]
    UnknownDate(String),
    /// Also for a reference that is not the booking's: one answer, so a caller learns nothing
    /// about whether the ID holds a booking.
    #[error("this person holds no booking")]
    NotBooked,
    #[error("the system's random number generator failed")]
    NoRandomness,
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

/// The person's booking and its nonce, if `presented` is its reference. The one check both
/// reading and cancelling go through: a wrong reference and no booking look the same.
async fn owned_booking<S: BookingStore>(
    store: &S,
    references: &BookingReferences,
    id: &MySejahteraId,
    presented: &BookingReference,
) -> Result<(Booking, ReferenceNonce), BookingError> {
    let held = store
        .find_booking(id)
        .await?
        .ok_or(BookingError::NotBooked)?;
    match held.ownership {
        Some(ownership) if references.verify(id, &ownership.nonce, presented) => {
            Ok((held.booking, ownership.nonce))
        }
        _ => Err(BookingError::NotBooked),
    }
}

/// Reading a booking needs the store only, so get-booking starts without a broker.
pub struct BookingLookup<S> {
    store: S,
    references: BookingReferences,
    identity: IdentityCheck,
}

impl<S: BookingStore> BookingLookup<S> {
    pub fn new(store: S, references: BookingReferences) -> Self {
        Self {
            store,
            references,
            identity: IdentityCheck::none(),
        }
    }

    /// Who may read a booking besides showing its reference (`IDENTITY`); none by default.
    #[must_use]
    pub fn with_identity(mut self, identity: IdentityCheck) -> Self {
        self.identity = identity;
        self
    }

    /// The check the endpoints run before reading a person's booking.
    pub fn identity(&self) -> &IdentityCheck {
        &self.identity
    }

    /// The person's booking as stored, to whoever shows its reference.
    pub async fn find(
        &self,
        id: &MySejahteraId,
        reference: &BookingReference,
    ) -> Result<Booking, BookingError> {
        self.find_with_nonce(id, reference)
            .await
            .map(|(booking, _)| booking)
    }

    /// As [`Self::find`], with the nonce the booking is held under (its slip's check-in code
    /// and booking number derive from it).
    pub async fn find_with_nonce(
        &self,
        id: &MySejahteraId,
        reference: &BookingReference,
    ) -> Result<(Booking, ReferenceNonce), BookingError> {
        owned_booking(&self.store, &self.references, id, reference).await
    }
}

pub struct BookingService<S, O, P> {
    store: S,
    outbox: O,
    publisher: P,
    timeout: Duration,
    breaker: PublishBreaker,
    references: BookingReferences,
    clock: Arc<dyn Clock>,
    identity: IdentityCheck,
}

impl<S: BookingStore, O: Outbox, P: EventPublisher> BookingService<S, O, P> {
    pub fn new(
        store: S,
        outbox: O,
        publisher: P,
        settings: PublishSettings,
        references: BookingReferences,
    ) -> Self {
        Self {
            store,
            outbox,
            publisher,
            timeout: settings.timeout,
            breaker: PublishBreaker::new(settings.cool_down),
            references,
            clock: Arc::new(SystemClock),
            identity: IdentityCheck::none(),
        }
    }

    /// Who may book, move or cancel for an ID (`IDENTITY`); none by default.
    #[must_use]
    pub fn with_identity(mut self, identity: IdentityCheck) -> Self {
        self.identity = identity;
        self
    }

    /// The check the endpoints run before acting for a person.
    pub fn identity(&self) -> &IdentityCheck {
        &self.identity
    }

    /// Another time source (tests move it across the reference's retry window).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Look-ups over the same store and reference key, for a process that serves both.
    pub fn lookup(&self) -> BookingLookup<S>
    where
        S: Clone,
    {
        BookingLookup::new(self.store.clone(), self.references.clone())
            .with_identity(self.identity.clone())
    }

    /// Success only when the store confirmed the booking is held; any doubt is an error. The
    /// event is in the outbox once the booking is; publishing it here is an optimisation that
    /// may fail without failing the booking. `retry_key` is the attempt's `Idempotency-Key`:
    /// an identical retry is shown the reference again only with the same key (and within the
    /// retry window), so someone else who sends the same body does not get it.
    pub async fn book(
        &self,
        booking: Booking,
        retry_key: Option<&IdempotencyKey>,
    ) -> Result<BookingConfirmed, BookingError> {
        let now = self.clock.now();
        let ownership = BookingOwnership {
            nonce: ReferenceNonce::random().map_err(|_| BookingError::NoRandomness)?,
            booked_at: now,
            retry_key: retry_key.map(|key| {
                self.references
                    .retry_key_digest(&booking.mysejahtera_id, key)
            }),
        };
        let event = BookingEvent::new(EventType::BookingCreated, booking, now);
        let id = &event.booking.mysejahtera_id;
        match self
            .store
            .book(&event.booking, &event.record(), &ownership)
            .await?
        {
            BookingOutcome::Created {
                outbox_id,
                sequence,
            } => {
                let reference = self.references.reference(id, &ownership.nonce);
                let event = event.sequenced(sequence);
                self.publish(OutboxEntry {
                    id: outbox_id,
                    record: event.record(),
                })
                .await;
                Ok(BookingConfirmed {
                    booking: event.booking,
                    newly_created: true,
                    reference: Some(reference),
                })
            }
            BookingOutcome::AlreadyHeld { ownership } => {
                let reference = ownership
                    .filter(|held| {
                        BookingReferences::within_retry_window(held.booked_at, now)
                            && match (retry_key, &held.retry_key) {
                                (Some(presented), Some(stored)) => {
                                    self.references.same_retry_key(id, presented, stored)
                                }
                                _ => false,
                            }
                    })
                    .map(|held| self.references.reference(id, &held.nonce));
                Ok(BookingConfirmed {
                    booking: event.booking,
                    newly_created: false,
                    reference,
                })
            }
            BookingOutcome::AlreadyBooked => Err(BookingError::AlreadyBooked),
            BookingOutcome::InProgress => Err(BookingError::InProgress),
            BookingOutcome::FullyBooked => Err(BookingError::FullyBooked),
            BookingOutcome::UnknownStation => Err(BookingError::UnknownStation(
                event.booking.location.to_string(),
            )),
            BookingOutcome::UnknownDate => {
                Err(BookingError::UnknownDate(event.booking.date.to_string()))
            }
        }
    }

    /// Removes the person's booking and frees its slot, for whoever shows its reference;
    /// afterwards they may book again. A second cancel finds nothing, so a client retrying a
    /// cancel learns it is already done. The `booking.cancelled` event enters the outbox in the
    /// same atomic step, which also re-checks the nonce: a booking made after the reference was
    /// checked is never the one removed.
    pub async fn cancel(
        &self,
        id: &MySejahteraId,
        reference: &BookingReference,
    ) -> Result<Booking, BookingError> {
        let (_, nonce) = owned_booking(&self.store, &self.references, id, reference).await?;
        let stamp = EventStamp::new(self.clock.now());
        let cancelled = self
            .store
            .cancel(id, &stamp, &nonce)
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

    /// Moves the person's booking to `to`, for whoever shows its reference: the new slot is
    /// taken and the old one freed in one step with the `booking.rescheduled` event, or nothing
    /// changes. The reference stays valid. A booking already at `to` is answered as it is, so
    /// a repeated move is a safe retry.
    pub async fn reschedule(
        &self,
        id: &MySejahteraId,
        reference: &BookingReference,
        to: &BookedSlot,
    ) -> Result<Rescheduled, BookingError> {
        let (booking, nonce) = owned_booking(&self.store, &self.references, id, reference).await?;
        if booking.slot() == *to {
            return Ok(Rescheduled {
                booking,
                moved: false,
            });
        }
        let stamp = EventStamp::new(self.clock.now());
        match self.store.move_booking(id, &nonce, to, &stamp).await? {
            MoveOutcome::Moved(moved) => {
                let event = BookingEvent::rescheduled(moved.booking, moved.from, stamp)
                    .sequenced(moved.sequence);
                self.publish(OutboxEntry {
                    id: moved.outbox_id,
                    record: event.record(),
                })
                .await;
                Ok(Rescheduled {
                    booking: event.booking,
                    moved: true,
                })
            }
            MoveOutcome::AlreadyThere(booking) => Ok(Rescheduled {
                booking,
                moved: false,
            }),
            MoveOutcome::NotBooked => Err(BookingError::NotBooked),
            MoveOutcome::InProgress => Err(BookingError::InProgress),
            MoveOutcome::FullyBooked => Err(BookingError::FullyBooked),
            MoveOutcome::UnknownStation => {
                Err(BookingError::UnknownStation(to.location.to_string()))
            }
            MoveOutcome::UnknownDate => Err(BookingError::UnknownDate(to.date.to_string())),
        }
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
    use std::time::SystemTime;

    use super::*;
    use crate::domain::valid_request;
    use crate::ports::{
        Cancelled, HeldBooking, MockBookingStore, MockClock, MockEventPublisher, MockOutbox, Moved,
        PublishError,
    };

    fn references() -> BookingReferences {
        BookingReferences::new(b"unit-test key, 32 bytes or more.".to_vec())
    }

    fn service<S: BookingStore, O: Outbox, P: EventPublisher>(
        store: S,
        outbox: O,
        publisher: P,
    ) -> BookingService<S, O, P> {
        BookingService::new(store, outbox, publisher, settings(), references())
    }

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
        // The reference itself is checked in `the_reference_comes_with_a_new_booking_and_a_recent_retry`.
        let confirmed = |newly_created| Ok::<_, BookingError>((booking.clone(), newly_created));
        let down = StoreError::Unavailable("timed out".into());
        type Case = (
            &'static str,
            Result<BookingOutcome, StoreError>,
            Result<(Booking, bool), BookingError>,
        );
        let cases: Vec<Case> = vec![
            ("a free slot books", created(), confirmed(true)),
            (
                "an identical retry confirms without a new booking",
                Ok(BookingOutcome::AlreadyHeld { ownership: None }),
                confirmed(false),
            ),
            (
                "one booking per person",
                Ok(BookingOutcome::AlreadyBooked),
                Err(BookingError::AlreadyBooked),
            ),
            (
                "another request of the person is being decided",
                Ok(BookingOutcome::InProgress),
                Err(BookingError::InProgress),
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
            let mut store = MockBookingStore::new();
            let wanted = booking.clone();
            store
                .expect_book()
                .withf(move |b, event, _| {
                    *b == wanted
                        && event.key == "900127015527"
                        && event.payload.contains("\"type\":\"booking.created\"")
                })
                .times(1)
                .return_once(move |_, _, _| reply);
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
            let got = service(store, outbox, publisher)
                .book(booking.clone(), None)
                .await
                .map(|c| (c.booking, c.newly_created));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[tokio::test]
    async fn the_reference_comes_with_a_new_booking_and_a_recent_retry_with_its_key() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let id = booking.mysejahtera_id.clone();
        let booked_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_621_152_000);
        let nonce = ReferenceNonce::random().unwrap();
        let key = |raw: &str| IdempotencyKey::parse(raw.as_bytes()).unwrap();
        let held = BookingOwnership {
            nonce: nonce.clone(),
            booked_at,
            retry_key: Some(references().retry_key_digest(&id, &key("attempt-1"))),
        };
        let keyless = BookingOwnership {
            retry_key: None,
            ..held.clone()
        };
        let minutes = |m: u64| booked_at + Duration::from_secs(60 * m);
        let expected = references().reference(&id, &nonce);
        type Case = (
            &'static str,
            Option<BookingOwnership>,
            Option<&'static str>,
            SystemTime,
            Option<BookingReference>,
        );
        let cases: Vec<Case> = vec![
            (
                "a retry with the key a minute later gets the same reference",
                Some(held.clone()),
                Some("attempt-1"),
                minutes(1),
                Some(expected.clone()),
            ),
            (
                "a retry without the key gets none",
                Some(held.clone()),
                None,
                minutes(1),
                None,
            ),
            (
                "a retry with another key gets none",
                Some(held.clone()),
                Some("attempt-2"),
                minutes(1),
                None,
            ),
            (
                "a booking made without a key shows it to no retry",
                Some(keyless.clone()),
                Some("attempt-1"),
                minutes(1),
                None,
            ),
            (
                "a retry with the key after 15 minutes gets none",
                Some(held.clone()),
                Some("attempt-1"),
                minutes(16),
                None,
            ),
            (
                "a booking stored before references existed has none",
                None,
                Some("attempt-1"),
                minutes(1),
                None,
            ),
        ];
        for (name, ownership, presented, now, reference) in cases {
            let mut store = MockBookingStore::new();
            store
                .expect_book()
                .withf(move |_, _, ownership| ownership.booked_at == now)
                .return_once(move |_, _, _| Ok(BookingOutcome::AlreadyHeld { ownership }));
            let mut clock = MockClock::new();
            clock.expect_now().return_const(now);
            let presented = presented.map(key);
            let confirmed = service(store, MockOutbox::new(), MockEventPublisher::new())
                .with_clock(Arc::new(clock))
                .book(booking.clone(), presented.as_ref())
                .await
                .unwrap();
            assert!(!confirmed.newly_created, "{name}");
            assert_eq!(confirmed.reference, reference, "{name}");
        }

        // A new booking's reference is derived from the nonce it stored, with or without a
        // key; the store keeps the key's digest, never the key.
        for presented in [None, Some(key("attempt-1"))] {
            let stored = Arc::new(std::sync::Mutex::new(None));
            let mut store = MockBookingStore::new();
            let keep = Arc::clone(&stored);
            store.expect_book().return_once(move |_, _, ownership| {
                *keep.lock().unwrap() = Some(ownership.clone());
                created()
            });
            let mut publisher = MockEventPublisher::new();
            publisher.expect_publish().returning(|_| Ok(()));
            let mut outbox = MockOutbox::new();
            outbox.expect_remove().returning(|_| Ok(()));
            let confirmed = service(store, outbox, publisher)
                .book(booking.clone(), presented.as_ref())
                .await
                .unwrap();
            let ownership = stored.lock().unwrap().clone().unwrap();
            assert_eq!(
                confirmed.reference,
                Some(references().reference(&id, &ownership.nonce))
            );
            assert_eq!(
                ownership.retry_key,
                presented
                    .as_ref()
                    .map(|presented| references().retry_key_digest(&id, presented))
            );
        }
    }

    #[tokio::test]
    async fn a_broker_outage_never_fails_a_booking_and_pauses_publishing() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let mut store = MockBookingStore::new();
        store.expect_book().times(2).returning(|_, _, _| created());
        let mut publisher = MockEventPublisher::new();
        // Only the first booking tries the broker; the second finds the breaker open.
        publisher
            .expect_publish()
            .times(1)
            .returning(|_| Err(PublishError::Unavailable("down".into())));
        let mut outbox = MockOutbox::new();
        outbox.expect_remove().never();
        let service = service(store, outbox, publisher);

        for _ in 0..2 {
            let confirmed = service.book(booking.clone(), None).await.unwrap();
            assert!(confirmed.newly_created);
        }
    }

    #[tokio::test]
    async fn a_failed_removal_still_confirms_the_booking() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let mut store = MockBookingStore::new();
        store.expect_book().returning(|_, _, _| created());
        let mut publisher = MockEventPublisher::new();
        publisher.expect_publish().returning(|_| Ok(()));
        let mut outbox = MockOutbox::new();
        outbox
            .expect_remove()
            .returning(|_| Err(StoreError::Unavailable("gone".into())));
        assert!(
            service(store, outbox, publisher)
                .book(booking, None)
                .await
                .is_ok()
        );
    }

    /// A store holding `booking` under a random nonce, and the reference that nonce gives.
    fn held(booking: &Booking) -> (HeldBooking, BookingReference) {
        let nonce = ReferenceNonce::random().unwrap();
        let reference = references().reference(&booking.mysejahtera_id, &nonce);
        let held = HeldBooking {
            booking: booking.clone(),
            ownership: Some(BookingOwnership {
                nonce,
                booked_at: SystemTime::UNIX_EPOCH,
                retry_key: None,
            }),
        };
        (held, reference)
    }

    #[tokio::test]
    async fn looking_a_booking_up() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let (stored, reference) = held(&booking);
        let (_, someone_elses) = held(&booking);
        let legacy = HeldBooking {
            ownership: None,
            ..stored.clone()
        };
        let down = StoreError::Unavailable("timed out".into());
        type Case = (
            &'static str,
            Result<Option<HeldBooking>, StoreError>,
            BookingReference,
            Result<Booking, BookingError>,
        );
        let cases: Vec<Case> = vec![
            (
                "its reference reads the booking",
                Ok(Some(stored.clone())),
                reference.clone(),
                Ok(booking.clone()),
            ),
            (
                "another booking's reference is not found",
                Ok(Some(stored.clone())),
                someone_elses.clone(),
                Err(BookingError::NotBooked),
            ),
            (
                "a booking without ownership is nobody's to read",
                Ok(Some(legacy)),
                reference.clone(),
                Err(BookingError::NotBooked),
            ),
            (
                "no booking is not found",
                Ok(None),
                reference.clone(),
                Err(BookingError::NotBooked),
            ),
            (
                "a store fault is passed on, not taken for 'no booking'",
                Err(down.clone()),
                reference.clone(),
                Err(BookingError::Store(down)),
            ),
        ];
        let id = booking.mysejahtera_id.clone();
        for (name, reply, presented, expected) in cases {
            let mut store = MockBookingStore::new();
            let wanted = id.clone();
            store
                .expect_find_booking()
                .withf(move |asked| *asked == wanted)
                .times(1)
                .return_once(move |_| reply);
            store.expect_cancel().never();
            assert_eq!(
                BookingLookup::new(store, references())
                    .find(&id, &presented)
                    .await,
                expected,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn moving_a_booking_publishes_its_rescheduling() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let (stored, reference) = held(&booking);
        let (_, someone_elses) = held(&booking);
        let nonce = stored.ownership.clone().unwrap().nonce;
        let to = BookedSlot::parse("UM", "20210520").unwrap();
        let there = booking.moved_to(&to);
        let moved = Moved {
            booking: there.clone(),
            from: booking.slot(),
            outbox_id: "9-0".into(),
            sequence: 4,
        };
        let down = StoreError::Unavailable("timed out".into());
        let unchanged = |booking: &Booking| {
            Ok(Rescheduled {
                booking: booking.clone(),
                moved: false,
            })
        };
        type Case = (
            &'static str,
            Option<HeldBooking>,
            BookingReference,
            BookedSlot,
            Option<Result<MoveOutcome, StoreError>>,
            Result<Rescheduled, BookingError>,
        );
        let cases: Vec<Case> = vec![
            (
                "a held booking moves with its reference",
                Some(stored.clone()),
                reference.clone(),
                to.clone(),
                Some(Ok(MoveOutcome::Moved(moved))),
                Ok(Rescheduled {
                    booking: there.clone(),
                    moved: true,
                }),
            ),
            (
                "the slot it holds already: answered as it is, nothing asked of the store",
                Some(stored.clone()),
                reference.clone(),
                booking.slot(),
                None,
                unchanged(&booking),
            ),
            (
                "moved there meanwhile (a retry): as stored",
                Some(stored.clone()),
                reference.clone(),
                to.clone(),
                Some(Ok(MoveOutcome::AlreadyThere(there.clone()))),
                unchanged(&there),
            ),
            (
                "another reference moves nothing",
                Some(stored.clone()),
                someone_elses,
                to.clone(),
                None,
                Err(BookingError::NotBooked),
            ),
            (
                "no booking is not found",
                None,
                reference.clone(),
                to.clone(),
                None,
                Err(BookingError::NotBooked),
            ),
            (
                "a booking cancelled since the check is not found",
                Some(stored.clone()),
                reference.clone(),
                to.clone(),
                Some(Ok(MoveOutcome::NotBooked)),
                Err(BookingError::NotBooked),
            ),
            (
                "no slot left there",
                Some(stored.clone()),
                reference.clone(),
                to.clone(),
                Some(Ok(MoveOutcome::FullyBooked)),
                Err(BookingError::FullyBooked),
            ),
            (
                "unknown station",
                Some(stored.clone()),
                reference.clone(),
                to.clone(),
                Some(Ok(MoveOutcome::UnknownStation)),
                Err(BookingError::UnknownStation("UM".into())),
            ),
            (
                "unknown date",
                Some(stored.clone()),
                reference.clone(),
                to.clone(),
                Some(Ok(MoveOutcome::UnknownDate)),
                Err(BookingError::UnknownDate("20210520".into())),
            ),
            (
                "another request of the person is being decided",
                Some(stored.clone()),
                reference.clone(),
                to.clone(),
                Some(Ok(MoveOutcome::InProgress)),
                Err(BookingError::InProgress),
            ),
            (
                "a store fault is passed on, never taken for a move",
                Some(stored.clone()),
                reference.clone(),
                to.clone(),
                Some(Err(down.clone())),
                Err(BookingError::Store(down)),
            ),
        ];
        let id = booking.mysejahtera_id.clone();
        for (name, found, presented, asked, reply, expected) in cases {
            let publishes = usize::from(matches!(expected, Ok(Rescheduled { moved: true, .. })));
            let mut store = MockBookingStore::new();
            store
                .expect_find_booking()
                .times(1)
                .return_once(move |_| Ok(found));
            let wanted = (id.clone(), nonce.clone(), asked.clone());
            let moves = usize::from(reply.is_some());
            store
                .expect_move_booking()
                .withf(move |who, guard, slot, stamp| {
                    (who, guard, slot) == (&wanted.0, &wanted.1, &wanted.2)
                        && stamp.event_id.len() == 36
                })
                .times(moves)
                .return_once(move |_, _, _, _| reply.unwrap());
            let mut publisher = MockEventPublisher::new();
            publisher
                .expect_publish()
                .withf(|records| {
                    let event: serde_json::Value =
                        serde_json::from_str(&records[0].payload).unwrap();
                    records.len() == 1
                        && records[0].key == "900127015527"
                        && event["type"] == "booking.rescheduled"
                        && event["sequence"] == 4
                        && event["from"]["location"] == "PWTC"
                        && event["to"]["location"] == "UM"
                })
                .times(publishes)
                .returning(|_| Ok(()));
            let mut outbox = MockOutbox::new();
            outbox
                .expect_remove()
                .withf(|ids| ids == ["9-0"])
                .times(publishes)
                .returning(|_| Ok(()));
            let service = service(store, outbox, publisher);
            assert_eq!(
                service.reschedule(&id, &presented, &asked).await,
                expected,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn cancelling_a_booking_publishes_its_cancellation() {
        let booking = Booking::parse(&valid_request()).unwrap();
        let (stored, reference) = held(&booking);
        let (_, someone_elses) = held(&booking);
        let nonce = stored.ownership.clone().unwrap().nonce;
        let down = StoreError::Unavailable("timed out".into());
        let removed = Cancelled {
            booking: booking.clone(),
            outbox_id: "7-0".into(),
            sequence: 2,
        };
        type Case = (
            &'static str,
            Option<HeldBooking>,
            BookingReference,
            Option<Result<Option<Cancelled>, StoreError>>,
            Result<Booking, BookingError>,
        );
        let cases: Vec<Case> = vec![
            (
                "a held booking is cancelled with its reference",
                Some(stored.clone()),
                reference.clone(),
                Some(Ok(Some(removed))),
                Ok(booking.clone()),
            ),
            (
                "another reference cancels nothing",
                Some(stored.clone()),
                someone_elses,
                None,
                Err(BookingError::NotBooked),
            ),
            (
                "nothing to cancel is not found",
                None,
                reference.clone(),
                None,
                Err(BookingError::NotBooked),
            ),
            (
                "a booking replaced since the check is not cancelled",
                Some(stored.clone()),
                reference.clone(),
                Some(Ok(None)),
                Err(BookingError::NotBooked),
            ),
            (
                "a store fault is passed on, not taken for 'nothing to cancel'",
                Some(stored.clone()),
                reference.clone(),
                Some(Err(down.clone())),
                Err(BookingError::Store(down)),
            ),
        ];
        let id = booking.mysejahtera_id.clone();
        for (name, found, presented, reply, expected) in cases {
            let publishes = usize::from(expected.is_ok());
            let mut store = MockBookingStore::new();
            store
                .expect_find_booking()
                .times(1)
                .return_once(move |_| Ok(found));
            let wanted = (id.clone(), nonce.clone());
            let cancels = usize::from(reply.is_some());
            store
                .expect_cancel()
                .withf(move |asked, stamp, guard| {
                    (asked, guard) == (&wanted.0, &wanted.1) && stamp.event_id.len() == 36
                })
                .times(cancels)
                .return_once(move |_, _, _| reply.unwrap());
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
            let service = service(store, outbox, publisher);
            assert_eq!(service.cancel(&id, &presented).await, expected, "{name}");
        }
    }
}
