//! Use case: show how many slots are left, at one station or at every station.
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::domain::{DateAvailability, Location, Slot, StationDates};
use crate::ports::{AllStations, StationReads, StoreError};

/// How fresh the API promises station reads to be: an answer may be reused until it is one
/// second old, by this process, a CDN or a browser together, never longer. A warm process keeps
/// a read that long, so in a rush Redis serves one read per station per second and process.
pub const STATION_CACHE_MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StationError {
    #[error("no station is called {0}")]
    UnknownStation(Location),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one read of the store returned, and when that read was sent.
pub struct Snapshot<T> {
    value: T,
    /// When the read was sent, not when it came back: the answer is at least this old.
    read_at: Instant,
    rendered: OnceLock<Rendered>,
}

/// A snapshot encoded for the wire: the body and a strong entity tag of exactly those bytes.
/// Made by the first request that needs it and reused by every other request the snapshot
/// answers, so serving from memory costs neither serializing nor hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: String,
    /// Quoted, as the `ETag` header carries it; `Bytes` so that a header is made without a copy.
    pub tag: bytes::Bytes,
}

impl<T> Snapshot<T> {
    fn new(value: T, read_at: Instant) -> Self {
        Self {
            value,
            read_at,
            rendered: OnceLock::new(),
        }
    }

    pub fn age(&self) -> Duration {
        self.read_at.elapsed()
    }

    /// What is left of [`STATION_CACHE_MAX_AGE`]: how long a client or CDN may still reuse it.
    pub fn freshness_left(&self) -> Duration {
        STATION_CACHE_MAX_AGE.saturating_sub(self.age())
    }

    /// The snapshot encoded by `render`, which runs once per snapshot.
    pub fn rendered(&self, render: impl FnOnce(&T) -> Rendered) -> &Rendered {
        self.rendered.get_or_init(|| render(&self.value))
    }
}

impl<T> Deref for Snapshot<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

type Read<T> = Result<Arc<Snapshot<T>>, StationError>;

/// The latest read per key, with single flight: callers that find no fresh read while one is
/// under way wait for it instead of each sending their own, so a rush of misses at the same
/// moment costs the store one read. Only successful reads are kept (an unknown station or a
/// store fault answers the callers that waited for it, then is forgotten), so the map holds at
/// most the keys that exist.
struct SharedReads<K, T> {
    max_age: Duration,
    reads: Mutex<HashMap<K, Arc<OnceCell<Read<T>>>>>,
}

fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<K: Eq + Hash + Clone, T> SharedReads<K, T> {
    fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            reads: Mutex::new(HashMap::new()),
        }
    }

    async fn get<F, Fut>(&self, key: &K, read: F) -> Read<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, StationError>>,
    {
        let cell = {
            let mut reads = lock(&self.reads);
            match reads.get(key).map(|cell| (cell.get(), cell)) {
                Some((Some(Ok(snapshot)), _)) if snapshot.age() < self.max_age => {
                    return Ok(Arc::clone(snapshot));
                }
                // Under way: wait for it.
                Some((None, cell)) => Arc::clone(cell),
                // Nothing, too old, or failed: a new read that later callers can join.
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    reads.insert(key.clone(), Arc::clone(&cell));
                    cell
                }
            }
        };
        // One caller runs the read; if it is dropped midway (its client went away) the next
        // waiter runs it instead.
        let result = cell
            .get_or_init(|| async {
                let read_at = Instant::now();
                read()
                    .await
                    .map(|value| Arc::new(Snapshot::new(value, read_at)))
            })
            .await
            .clone();
        if result.is_err() {
            let mut reads = lock(&self.reads);
            if reads.get(key).is_some_and(|kept| Arc::ptr_eq(kept, &cell)) {
                reads.remove(key);
            }
        }
        result
    }
}

pub struct StationService<S> {
    store: S,
    stations: SharedReads<Location, Vec<Slot>>,
    list: SharedReads<(), Vec<StationDates>>,
}

impl<S: StationReads> StationService<S> {
    /// Every call reads the store (concurrent calls still share a read under way).
    pub fn new(store: S) -> Self {
        Self::cached(store, Duration::ZERO)
    }

    /// Answers from memory while the last read is younger than `max_age` (capped at
    /// [`STATION_CACHE_MAX_AGE`]). For the read endpoints only: bookings never use it.
    pub fn cached(store: S, max_age: Duration) -> Self {
        let max_age = max_age.min(STATION_CACHE_MAX_AGE);
        Self {
            store,
            stations: SharedReads::new(max_age),
            list: SharedReads::new(max_age),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The station's dates in calendar order (a Redis hash has none of its own).
    pub async fn slots(&self, location: &Location) -> Read<Vec<Slot>> {
        self.stations
            .get(location, || async {
                let mut slots = self.store.station_slots(location).await?;
                if slots.is_empty() {
                    return Err(StationError::UnknownStation(location.clone()));
                }
                slots.sort_unstable_by_key(|slot| slot.date);
                Ok(slots)
            })
            .await
    }

    /// Every station that has dates, sorted by location, each with its dates in calendar order.
    pub async fn all(&self) -> Read<Vec<StationDates>> {
        self.list
            .get(&(), || async {
                Ok(station_list(self.store.all_stations().await?))
            })
            .await
    }
}

fn station_list(AllStations { slots, mut details }: AllStations) -> Vec<StationDates> {
    let mut stations: BTreeMap<Location, Vec<DateAvailability>> = BTreeMap::new();
    for slot in slots {
        stations
            .entry(slot.location)
            .or_default()
            .push(DateAvailability {
                date: slot.date,
                availability: slot.availability,
            });
    }
    stations
        .into_iter()
        .map(|(location, mut dates)| {
            dates.sort_unstable_by_key(|date| date.date);
            StationDates {
                details: details.remove(&location).unwrap_or_default(),
                location,
                dates,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::domain::{SlotDate, StationDetails};
    use crate::ports::MockStationReads;

    fn slot_at(location: &str, date: &str, availability: u32) -> Slot {
        Slot {
            location: Location::parse(location).unwrap(),
            date: SlotDate::parse(date).unwrap(),
            availability,
        }
    }

    fn slot(date: &str, availability: u32) -> Slot {
        slot_at("PWTC", date, availability)
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
            let mut store = MockStationReads::new();
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

    #[tokio::test]
    async fn station_list_rules() {
        type Reply = Result<AllStations, StoreError>;
        let only_slots = |slots| {
            Ok(AllStations {
                slots,
                ..Default::default()
            })
        };
        type Expected = Result<serde_json::Value, StationError>;
        let cases: Vec<(&str, Reply, Expected)> = vec![
            (
                "stations sorted by location, each one's dates in calendar order",
                only_slots(vec![
                    slot_at("UM", "20210517", 2),
                    slot_at("PWTC", "20210601", 3),
                    slot_at("IDCC", "20210516", 0),
                    slot_at("PWTC", "20210516", 1),
                    slot_at("UM", "20210516", 5),
                ]),
                Ok(serde_json::json!([
                    {"location": "IDCC", "dates": [{"date": "20210516", "availability": 0}]},
                    {"location": "PWTC", "dates": [
                        {"date": "20210516", "availability": 1},
                        {"date": "20210601", "availability": 3}]},
                    {"location": "UM", "dates": [
                        {"date": "20210516", "availability": 5},
                        {"date": "20210517", "availability": 2}]},
                ])),
            ),
            (
                "a station's details beside its code; details of a station without dates are not listed",
                Ok(AllStations {
                    slots: vec![slot_at("PWTC", "20210516", 1), slot_at("UM", "20210516", 2)],
                    details: BTreeMap::from([
                        (
                            Location::parse("PWTC").unwrap(),
                            StationDetails {
                                name: Some("Pusat Dagangan Dunia Putra".into()),
                                address: Some("Kuala Lumpur".into()),
                            },
                        ),
                        (
                            Location::parse("GONE").unwrap(),
                            StationDetails {
                                name: Some("Gone".into()),
                                address: None,
                            },
                        ),
                    ]),
                }),
                Ok(serde_json::json!([
                    {"location": "PWTC", "name": "Pusat Dagangan Dunia Putra", "address": "Kuala Lumpur",
                        "dates": [{"date": "20210516", "availability": 1}]},
                    {"location": "UM", "dates": [{"date": "20210516", "availability": 2}]},
                ])),
            ),
            (
                "no stations is an empty list, not an error",
                only_slots(vec![]),
                Ok(serde_json::json!([])),
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
            let mut store = MockStationReads::new();
            store
                .expect_all_stations()
                .times(1)
                .return_once(move || reply);
            let service = StationService::new(store);
            let got = service
                .all()
                .await
                .map(|list| serde_json::to_value(&**list).unwrap());
            assert_eq!(got, expected, "{name}");
        }
    }

    fn counting_store(reads: &Arc<AtomicU32>) -> MockStationReads {
        let mut store = MockStationReads::new();
        let reads = Arc::clone(reads);
        store.expect_station_slots().returning(move |_| {
            let n = reads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![slot("20210516", 100 - n)])
        });
        store
    }

    #[tokio::test(start_paused = true)]
    async fn a_cached_read_is_never_a_second_old() {
        let reads = Arc::new(AtomicU32::new(0));
        let service = StationService::cached(counting_store(&reads), STATION_CACHE_MAX_AGE);
        let pwtc = Location::parse("PWTC").unwrap();
        let availability = |slots: Read<Vec<Slot>>| slots.unwrap()[0].availability;

        assert_eq!(availability(service.slots(&pwtc).await), 100);
        tokio::time::advance(Duration::from_millis(999)).await;
        assert_eq!(
            availability(service.slots(&pwtc).await),
            100,
            "999 ms old: served from memory"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);

        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(
            availability(service.slots(&pwtc).await),
            99,
            "1 s old: read again"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn freshness_left_is_what_remains_of_the_second() {
        let reads = Arc::new(AtomicU32::new(0));
        let service = StationService::cached(counting_store(&reads), STATION_CACHE_MAX_AGE);
        let pwtc = Location::parse("PWTC").unwrap();

        let first = service.slots(&pwtc).await.unwrap();
        assert_eq!(first.freshness_left(), STATION_CACHE_MAX_AGE, "just read");
        tokio::time::advance(Duration::from_millis(700)).await;
        let cached = service.slots(&pwtc).await.unwrap();
        assert!(Arc::ptr_eq(&first, &cached), "served from memory");
        assert_eq!(cached.age(), Duration::from_millis(700));
        assert_eq!(cached.freshness_left(), Duration::from_millis(300));
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(cached.freshness_left(), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(cached.freshness_left(), Duration::ZERO, "never negative");
        let fresh = service.slots(&pwtc).await.unwrap();
        assert_eq!(fresh.freshness_left(), STATION_CACHE_MAX_AGE, "read again");
    }

    #[tokio::test(start_paused = true)]
    async fn the_cache_age_is_capped_and_misses_are_not_kept() {
        let reads = Arc::new(AtomicU32::new(0));
        // Asking for a minute still gets at most one second.
        let service = StationService::cached(counting_store(&reads), Duration::from_secs(60));
        let pwtc = Location::parse("PWTC").unwrap();
        service.slots(&pwtc).await.unwrap();
        tokio::time::advance(STATION_CACHE_MAX_AGE).await;
        service.slots(&pwtc).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);

        let mut store = MockStationReads::new();
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
        assert!(
            lock(&service.stations.reads).is_empty(),
            "an unknown station leaves nothing behind"
        );
    }

    #[tokio::test]
    async fn without_a_cache_every_call_reads() {
        let reads = Arc::new(AtomicU32::new(0));
        let service = StationService::new(counting_store(&reads));
        let pwtc = Location::parse("PWTC").unwrap();
        service.slots(&pwtc).await.unwrap();
        service.slots(&pwtc).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    /// Many requests miss at the same moment: the store sees one read, and everybody gets it.
    /// The mock blocks its thread for a while so that the others arrive while the read is under
    /// way (mockall cannot make an async reply wait); on a busy machine late arrivals find the
    /// cache instead, which still counts one read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_misses_share_one_store_read() {
        const REQUESTS: usize = 200;
        let reads = Arc::new(AtomicU32::new(0));
        let mut store = MockStationReads::new();
        let counted = Arc::clone(&reads);
        store.expect_station_slots().returning(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
            Ok(vec![slot("20210516", 7)])
        });
        let counted = Arc::clone(&reads);
        store.expect_all_stations().returning(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
            Ok(AllStations {
                slots: vec![slot("20210516", 7)],
                ..Default::default()
            })
        });
        let service = Arc::new(StationService::cached(store, STATION_CACHE_MAX_AGE));
        let start = Arc::new(tokio::sync::Barrier::new(REQUESTS + 1));
        let requests: Vec<_> = (0..REQUESTS)
            .map(|i| {
                let (service, start) = (Arc::clone(&service), Arc::clone(&start));
                tokio::spawn(async move {
                    start.wait().await;
                    if i % 2 == 0 {
                        service
                            .slots(&Location::parse("PWTC").unwrap())
                            .await
                            .map(drop)
                    } else {
                        service.all().await.map(drop)
                    }
                })
            })
            .collect();
        start.wait().await;
        for request in requests {
            request.await.unwrap().unwrap();
        }
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "one read for the station and one for the list"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_share_the_read_under_way_and_its_failure() {
        let reads = SharedReads::<&str, u32>::new(Duration::ZERO);
        let sent = AtomicU32::new(0);
        // A slow read: every caller arrives while it is under way.
        let read = |outcome: Result<u32, StationError>| {
            let sent = &sent;
            move || async move {
                sent.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                outcome
            }
        };
        let answers =
            futures::future::join_all((0..100).map(|_| reads.get(&"PWTC", read(Ok(5))))).await;
        assert!(answers.iter().all(|a| a.as_ref().map(|s| ***s) == Ok(5)));
        assert_eq!(
            sent.load(Ordering::SeqCst),
            1,
            "one read for a hundred misses"
        );

        let down = || Err(StationError::Store(StoreError::Unavailable("down".into())));
        let answers =
            futures::future::join_all((0..100).map(|_| reads.get(&"PWTC", read(down())))).await;
        assert!(answers.iter().all(Result::is_err));
        assert_eq!(
            sent.load(Ordering::SeqCst),
            2,
            "one failed read for all of them"
        );

        // Without a cache (max age zero) the next caller reads again, and a failure is not kept.
        reads.get(&"PWTC", read(Ok(6))).await.unwrap();
        assert_eq!(sent.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_reader_hands_the_read_to_the_next_caller() {
        let reads = SharedReads::<&str, u32>::new(STATION_CACHE_MAX_AGE);
        let first = reads.get(&"PWTC", || async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(1)
        });
        // The first caller's client goes away mid-read.
        assert!(
            tokio::time::timeout(Duration::from_millis(10), first)
                .await
                .is_err()
        );
        let second = reads.get(&"PWTC", || async { Ok(2) }).await.unwrap();
        assert_eq!(**second, 2);
    }
}
