//! Use case: show how many slots are left at a station.
use crate::domain::{Location, Slot};
use crate::ports::{SlotStore, StoreError};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StationError {
    #[error("no station is called {0}")]
    UnknownStation(Location),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct StationService<S> {
    store: S,
}

impl<S: SlotStore> StationService<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The station's dates in calendar order (a Redis hash has none of its own).
    pub async fn slots(&self, location: &Location) -> Result<Vec<Slot>, StationError> {
        let mut slots = self.store.station_slots(location).await?;
        if slots.is_empty() {
            return Err(StationError::UnknownStation(location.clone()));
        }
        slots.sort_unstable_by_key(|slot| slot.date);
        Ok(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SlotDate;
    use crate::ports::MockSlotStore;

    fn slot(date: &str, availability: u32) -> Slot {
        Slot {
            location: Location::parse("PWTC").unwrap(),
            date: SlotDate::parse(date).unwrap(),
            availability,
        }
    }

    #[tokio::test]
    async fn station_rules() {
        type Reply = Result<Vec<Slot>, StoreError>;
        type Expected = Result<Vec<Slot>, StationError>;
        let pwtc = Location::parse("PWTC").unwrap();
        let cases: Vec<(&str, Reply, Expected)> = vec![
            (
                "dates come back in calendar order",
                Ok(vec![
                    slot("20210601", 3),
                    slot("20210516", 1),
                    slot("20210531", 0),
                ]),
                Ok(vec![
                    slot("20210516", 1),
                    slot("20210531", 0),
                    slot("20210601", 3),
                ]),
            ),
            (
                "a station without dates is unknown",
                Ok(vec![]),
                Err(StationError::UnknownStation(pwtc.clone())),
            ),
            (
                "a store fault is passed on, not hidden",
                Err(StoreError::Unavailable("refused".into())),
                Err(StationError::Store(StoreError::Unavailable(
                    "refused".into(),
                ))),
            ),
        ];
        for (name, reply, expected) in cases {
            let mut store = MockSlotStore::new();
            let wanted = pwtc.clone();
            store
                .expect_station_slots()
                .withf(move |location| *location == wanted)
                .times(1)
                .return_once(move |_| reply);
            let service = StationService::new(store);
            assert_eq!(service.slots(&pwtc).await, expected, "{name}");
        }
    }
}
