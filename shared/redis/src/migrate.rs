//! One-off migration of data written before the hash-tagged layout (single Redis only).
use super::*;

pub(crate) static MIGRATE_HELD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("migrate_held.lua")));

/// Where a stored booking is held, all the migration needs of it.
#[derive(serde::Deserialize)]
pub(crate) struct BookingPlace {
    location: String,
    date: String,
}

/// Every key matching `pattern` that has no hash tag yet (the layout before hash tags).
pub(crate) async fn untagged_keys(
    connection: &mut Reconnecting,
    pattern: &str,
) -> Result<Vec<String>, StoreError> {
    let mut iter = connection
        .scan_match::<_, String>(pattern)
        .await
        .map_err(unavailable)?;
    let mut keys = Vec::new();
    while let Some(key) = iter.next_item().await {
        let key = key.map_err(unavailable)?;
        if !key.contains('{') {
            keys.push(key);
        }
    }
    Ok(keys)
}

impl RedisStore {
    /// One-off, single Redis: renames the keys of the layout before hash tags (`slots:PWTC`,
    /// `booking:ID`, ...) to their tagged names, and records each renamed booking in its
    /// station's `holders` (holdId `migrated`, as in its owner record) so it cancels like any
    /// other. A key whose new name exists already is left alone. Owner records and counters
    /// first, so recording a booking's holdId never creates the owner key a rename needs free.
    pub(crate) async fn migrate_key_layout(&self) -> Result<u64, StoreError> {
        const MIGRATED_HOLD: &str = "migrated";
        let mut connection = self.reconnecting();
        let mut renamed = 0;
        let invalid = |key: &str| StoreError::UnexpectedReply(format!("cannot migrate {key:?}"));
        for (kind, tagged) in [
            ("slots", slots_key as fn(&Location) -> String),
            ("capacity", capacity_key),
            ("held", held_key),
        ] {
            for key in untagged_keys(&mut connection, &format!("{kind}:*")).await? {
                let location = key
                    .strip_prefix(kind)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .and_then(|raw| Location::parse(raw).ok())
                    .ok_or_else(|| invalid(&key))?;
                let done: bool = connection
                    .rename_nx(&key, tagged(&location))
                    .await
                    .map_err(unavailable)?;
                renamed += u64::from(done);
            }
        }
        for kind in ["booking-owner", "event-seq", "booking"] {
            for key in untagged_keys(&mut connection, &format!("{kind}:*")).await? {
                let id = key
                    .strip_prefix(kind)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .and_then(|raw| MySejahteraId::stored_key(raw).ok())
                    .ok_or_else(|| invalid(&key))?;
                let new_key = person_key(kind, &id);
                let done: bool = connection
                    .rename_nx(&key, &new_key)
                    .await
                    .map_err(unavailable)?;
                renamed += u64::from(done);
                if done && kind == "booking" {
                    let json: String = connection.get(&new_key).await.map_err(unavailable)?;
                    let place: BookingPlace =
                        serde_json::from_str(&json).map_err(|_| invalid(&new_key))?;
                    let location = Location::parse(&place.location).map_err(|_| invalid(&key))?;
                    let hold = format!("{MIGRATED_HOLD}|{}", place.date);
                    let mut pipe = redis::pipe();
                    pipe.hset_nx(holders_key(&location), id.as_str(), hold)
                        .hset_nx(booking_owner_key(&id), "holdId", MIGRATED_HOLD);
                    let _: () = pipe
                        .query_async(&mut connection)
                        .await
                        .map_err(unavailable)?;
                }
            }
        }
        Ok(renamed)
    }
}

impl RedisStore {
    /// One-off: renames the layout before hash tags (single Redis), then gives every date
    /// without a count of bookings held the number of booking records on it.
    pub(crate) async fn count_held_bookings(&self) -> Result<HeldMigrated, StoreError> {
        let mut connection = self.reconnecting();
        let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut report = HeldMigrated::default();
        // Data from before hash tags was only ever written to a single Redis.
        if !self.cluster {
            report.keys_renamed = self.migrate_key_layout().await?;
        }
        let keys: Vec<String> = if self.cluster {
            // SCAN reaches one node only; KEYS asks every primary (a one-off, off-peak job).
            store_call("migrate_keys", connection.keys("booking:*"))
                .await
                .map_err(unavailable)?
        } else {
            let mut iter = connection
                .scan_match::<_, String>("booking:*")
                .await
                .map_err(unavailable)?;
            let mut keys = Vec::new();
            while let Some(key) = iter.next_item().await {
                keys.push(key.map_err(unavailable)?);
            }
            keys
        };
        for chunk in keys.chunks(500) {
            let stored: Vec<Option<String>> = connection.mget(chunk).await.map_err(unavailable)?;
            // Only where the booking is counted matters; a record that vanished meanwhile
            // (cancelled, expired) is not held.
            for json in stored.into_iter().flatten() {
                let place: BookingPlace = serde_json::from_str(&json).map_err(|e| {
                    StoreError::UnexpectedReply(format!("stored booking: {:?}", e.classify()))
                })?;
                *counts
                    .entry(place.location)
                    .or_default()
                    .entry(place.date)
                    .or_default() += 1;
                report.bookings_counted += 1;
            }
        }
        let mut locations: BTreeSet<String> = connection
            .smembers(STATIONS_KEY)
            .await
            .map_err(unavailable)?;
        locations.extend(counts.keys().cloned());
        for raw in locations {
            let location = Location::parse(&raw)
                .map_err(|e| StoreError::UnexpectedReply(format!("station {raw:?}: {e}")))?;
            let mut invocation = MIGRATE_HELD.prepare_invoke();
            invocation
                .key(slots_key(&location))
                .key(capacity_key(&location))
                .key(held_key(&location));
            for (date, count) in counts.get(&raw).into_iter().flatten() {
                invocation.arg(date).arg(count);
            }
            let migrated: u32 =
                store_call("migrate_held", invocation.invoke_async(&mut connection))
                    .await
                    .map_err(unavailable)?;
            report.dates_migrated += migrated;
        }
        Ok(report)
    }
}
