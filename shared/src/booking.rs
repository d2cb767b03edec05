//! Use cases: book one slot for one person, look their booking up, cancel it.
use crate::domain::{Booking, MySejahteraId};
use crate::ports::{BookingOutcome, SlotStore, StoreError};

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

pub struct BookingService<S> {
    store: S,
}

impl<S: SlotStore> BookingService<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Success only when the store confirmed the booking is held; any doubt is an error.
    pub async fn book(&self, booking: Booking) -> Result<BookingConfirmed, BookingError> {
        match self.store.book(&booking).await? {
            BookingOutcome::Created => Ok(BookingConfirmed {
                booking,
                newly_created: true,
            }),
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

    /// The person's booking as stored.
    pub async fn find(&self, id: &MySejahteraId) -> Result<Booking, BookingError> {
        self.store
            .find_booking(id)
            .await?
            .ok_or(BookingError::NotBooked)
    }

    /// Removes the person's booking and frees its slot; afterwards they may book again. A second
    /// cancel finds nothing, so a client retrying a cancel learns it is already done.
    pub async fn cancel(&self, id: &MySejahteraId) -> Result<Booking, BookingError> {
        self.store.cancel(id).await?.ok_or(BookingError::NotBooked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::valid_request;
    use crate::ports::MockSlotStore;

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
            (
                "a free slot books",
                Ok(BookingOutcome::Created),
                confirmed(true),
            ),
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
            let mut store = MockSlotStore::new();
            let wanted = booking.clone();
            store
                .expect_book()
                .withf(move |b| *b == wanted)
                .times(1)
                .return_once(move |_| reply);
            let service = BookingService::new(store);
            assert_eq!(service.book(booking.clone()).await, expected, "{name}");
        }
    }

    type LookupCase = (
        &'static str,
        Result<Option<Booking>, StoreError>,
        Result<Booking, BookingError>,
    );

    fn lookup_cases() -> Vec<LookupCase> {
        let booking = Booking::parse(&valid_request()).unwrap();
        let down = StoreError::Unavailable("timed out".into());
        vec![
            (
                "a held booking is returned",
                Ok(Some(booking.clone())),
                Ok(booking),
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
        ]
    }

    /// Looking up and cancelling share their rules; each must call only its own store method.
    #[tokio::test]
    async fn finding_and_cancelling_a_booking() {
        let id = MySejahteraId::parse("900127015527").unwrap();
        for cancelling in [false, true] {
            for (name, reply, expected) in lookup_cases() {
                let mut store = MockSlotStore::new();
                let wanted = id.clone();
                let asked_for = move |asked: &MySejahteraId| *asked == wanted;
                if cancelling {
                    store.expect_find_booking().never();
                    let expectation = store.expect_cancel().withf(asked_for).times(1);
                    expectation.return_once(move |_| reply);
                } else {
                    store.expect_cancel().never();
                    let expectation = store.expect_find_booking().withf(asked_for).times(1);
                    expectation.return_once(move |_| reply);
                }
                let service = BookingService::new(store);
                let got = if cancelling {
                    service.cancel(&id).await
                } else {
                    service.find(&id).await
                };
                assert_eq!(got, expected, "{name} (cancelling: {cancelling})");
            }
        }
    }
}
