//! Use case: show how many slots are left at a station.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{Location, Slot};
use crate::ports::{SlotStore, StoreError};

/// The API already lets clients and CDNs reuse a station's answer for one second
/// (`Cache-Control: max-age=1`), so a warm process may too: in a rush, Redis then serves one
/// read per station per second and process, not one per request. Never longer.
pub const STATION_CACHE_MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StationError {
    #[error("no station is called {0}")]
    UnknownStation(Location),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct StationService<S> {
    store: S,
    cache: Option<SlotsCache>,
}

/// Stations' sorted slots as last read, keyed by station. Only stations that exist get in (an
/// unknown one is an error, never cached), so its size is bounded by the seeded stations.
struct SlotsCache {
    max_age: Duration,
    entries: Mutex<HashMap<Location, Fresh>>,
}

struct Fresh {
    /// When the read was sent, not when it came back: the answer is at least this old.
    read_at: Instant,
    slots: Arc<[Slot]>,
}

impl<S: SlotStore> StationService<S> {
    /// Every call reads the store.
    pub fn new(store: S) -> Self {
        Self { store, cache: None }
    }

    /// Answers from memory while the last read of the station is younger than `max_age`
    /// (capped at [`STATION_CACHE_MAX_AGE`]). For the read endpoint only: bookings never use it.
    pub fn cached(store: S, max_age: Duration) -> Self {
        Self {
            store,
            cache: Some(SlotsCache {
                max_age: max_age.min(STATION_CACHE_MAX_AGE),
                entries: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The station's dates in calendar order (a Redis hash has none of its own).
    pub async fn slots(&self, location: &Location) -> Result<Arc<[Slot]>, StationError> {
        let Some(cache) = &self.cache else {
            return self.read(location).await;
        };
        if let Some(slots) = cache.fresh(location) {
            return Ok(slots);
        }
        let read_at = Instant::now();
        let slots = self.read(location).await?;
        cache.keep(location, read_at, Arc::clone(&slots));
        Ok(slots)
    }

    async fn read(&self, location: &Location) -> Result<Arc<[Slot]>, StationError> {
        let mut slots = self.store.station_slots(location).await?;
        if slots.is_empty() {
            return Err(StationError::UnknownStation(location.clone()));
        }
        slots.sort_unstable_by_key(|slot| slot.date);
        Ok(slots.into())
    }
}

impl SlotsCache {
    fn fresh(&self, location: &Location) -> Option<Arc<[Slot]>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(location)?;
        (entry.read_at.elapsed() < self.max_age).then(|| Arc::clone(&entry.slots))
    }

    fn keep(&self, location: &Location, read_at: Instant, slots: Arc<[Slot]>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Concurrent misses race here; the newest read wins, never an older one.
        match entries.get_mut(location) {
            Some(entry) if entry.read_at >= read_at => {}
            Some(entry) => *entry = Fresh { read_at, slots },
            None => {
                entries.insert(location.clone(), Fresh { read_at, slots });
            }
        }
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
            let got = service.slots(&pwtc).await.map(|slots| slots.to_vec());
            assert_eq!(got, expected, "{name}");
        }
    }

    fn counting_store(reads: &Arc<std::sync::atomic::AtomicU32>) -> MockSlotStore {
        let mut store = MockSlotStore::new();
        let reads = Arc::clone(reads);
        store.expect_station_slots().returning(move |_| {
            let n = reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(vec![slot("20210516", 100 - n)])
        });
        store
    }

    #[tokio::test(start_paused = true)]
    async fn a_cached_read_is_never_a_second_old() {
        let reads = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let service = StationService::cached(counting_store(&reads), STATION_CACHE_MAX_AGE);
        let pwtc = Location::parse("PWTC").unwrap();
        let availability = |slots: Arc<[Slot]>| slots[0].availability;

        assert_eq!(availability(service.slots(&pwtc).await.unwrap()), 100);
        tokio::time::advance(Duration::from_millis(999)).await;
        assert_eq!(
            availability(service.slots(&pwtc).await.unwrap()),
            100,
            "999 ms old: served from memory"
        );
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);

        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(
            availability(service.slots(&pwtc).await.unwrap()),
            99,
            "1 s old: read again"
        );
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cache_age_is_capped_and_misses_are_not_kept() {
        let reads = Arc::new(std::sync::atomic::AtomicU32::new(0));
        // Asking for a minute still gets at most one second.
        let service = StationService::cached(counting_store(&reads), Duration::from_secs(60));
        let pwtc = Location::parse("PWTC").unwrap();
        service.slots(&pwtc).await.unwrap();
        tokio::time::advance(STATION_CACHE_MAX_AGE).await;
        service.slots(&pwtc).await.unwrap();
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);

        let mut store = MockSlotStore::new();
        store
            .expect_station_slots()
            .times(2)
            .returning(|_| Ok(vec![]));
        let service = StationService::cached(store, STATION_CACHE_MAX_AGE);
        for _ in 0..2 {
            assert!(matches!(
                service.slots(&pwtc).await,
                Err(StationError::UnknownStation(_))
            ));
        }
    }

    #[tokio::test]
    async fn without_a_cache_every_call_reads() {
        let reads = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let service = StationService::new(counting_store(&reads));
        let pwtc = Location::parse("PWTC").unwrap();
        service.slots(&pwtc).await.unwrap();
        service.slots(&pwtc).await.unwrap();
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
