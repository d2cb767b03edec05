//! The outbox: one stream per person bucket, appended by the same script that changes the
//! booking; the [`Outbox`] port the relay drains it through, and the relay's lease.
use super::*;

pub(crate) static RELEASE_LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("release_lease.lua")));
pub(crate) static RENEW_LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("renew_lease.lua")));
pub(crate) static REMOVE_PUBLISHED: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("remove_published.lua")));

/// The outbox entry id the use cases see: the stream's name within the outbox (the bucket's
/// three digits, or `legacy`), a slash, and the stream's own entry id.
pub(crate) fn outbox_entry_id(bucket: u16, stream_id: &str) -> String {
    format!("{bucket:03}/{stream_id}")
}

pub(crate) const LEGACY_STREAM: &str = "legacy";

/// Every outbox stream: its name within outbox entry ids, and its key.
pub(crate) fn outbox_streams() -> impl Iterator<Item = (String, String)> {
    (0..PERSON_BUCKETS)
        .map(|bucket| (format!("{bucket:03}"), outbox_key(bucket)))
        .chain(std::iter::once((
            LEGACY_STREAM.to_owned(),
            LEGACY_OUTBOX_KEY.to_owned(),
        )))
}

/// The stream key and stream entry id an outbox entry id names.
pub(crate) fn outbox_entry_location(id: &str) -> Result<(String, &str), StoreError> {
    let unknown = || StoreError::UnexpectedReply(format!("not an outbox entry id: {id:?}"));
    let (stream, stream_id) = id.split_once('/').ok_or_else(unknown)?;
    if stream == LEGACY_STREAM {
        return Ok((LEGACY_OUTBOX_KEY.to_owned(), stream_id));
    }
    let bucket: u16 = stream.parse().map_err(|_| unknown())?;
    if bucket >= PERSON_BUCKETS {
        return Err(unknown());
    }
    Ok((outbox_key(bucket), stream_id))
}

/// A stream whose published entries leave it while at most this many wait is rewritten with
/// only those (remove_published.lua): bounded work per removal; a longer backlog (a broker
/// outage) is compacted once it has shrunk to this.
const OUTBOX_COMPACTION_LIMIT: usize = 100;

impl RedisStore {
    /// Returns once the replicas hold every entry read so far from `streams`: one fence on a
    /// single Redis (one node, one replication stream), one on the shard of each stream on a
    /// cluster.
    async fn replicated_outbox<'a>(
        &self,
        streams: impl Iterator<Item = &'a str>,
    ) -> Result<(), StoreError> {
        let mut read_from: BTreeSet<&str> = streams.collect();
        if !self.cluster {
            read_from = read_from.into_iter().take(1).collect();
        }
        let fences = read_from
            .into_iter()
            .map(|key| self.replicated_so_far("outbox_replicated", key));
        futures::future::try_join_all(fences).await.map(drop)
    }
}

/// A stream entry id (`ms-seq`) as a sortable pair.
pub(crate) fn stream_id_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(u64::MAX), seq.parse().unwrap_or(0))
}

#[async_trait]
impl Outbox for RedisStore {
    /// Reads every outbox stream (one per person bucket, and the legacy stream) at once and
    /// keeps the oldest `limit` entries overall. Within a stream entries stay in order, and
    /// one person's events are always in one stream: per-person order holds. Entries come back
    /// only once the replicas hold them (a fence on the shard of every stream read from, see
    /// [`RedisStore::replicated_so_far`]): no event goes out for a booking, or a cancel, that a
    /// failover could still undo; short of that, an error, and the entries wait.
    async fn oldest(
        &self,
        limit: usize,
        min_age: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut connection = self.reconnecting();
        // Redis's own clock stamped the stream ids, so it judges their age.
        let (seconds, micros): (u64, u64) = store_call(
            "outbox_time",
            redis::cmd("TIME").query_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        let now_ms = seconds * 1000 + micros / 1000;
        let Some(newest) =
            now_ms.checked_sub(u64::try_from(min_age.as_millis()).unwrap_or(u64::MAX))
        else {
            return Ok(Vec::new());
        };
        let reads = outbox_streams().map(|(stream, key)| {
            let mut connection = self.reconnecting();
            async move {
                let raw: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg(newest)
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut connection)
                    .await?;
                Ok::<_, redis::RedisError>((stream, key, raw))
            }
        });
        let streams = store_call("outbox_oldest", futures::future::try_join_all(reads))
            .await
            .map_err(unavailable)?;
        let mut entries = Vec::new();
        for (stream, stream_key, raw) in streams {
            for (id, mut fields) in raw {
                let (Some(key), Some(payload)) = (fields.remove("key"), fields.remove("event"))
                else {
                    return Err(StoreError::UnexpectedReply(format!(
                        "outbox entry {stream}/{id} lacks key or event"
                    )));
                };
                entries.push((
                    stream_id_order(&id),
                    stream_key.clone(),
                    OutboxEntry {
                        id: format!("{stream}/{id}"),
                        record: EventRecord { key, payload },
                    },
                ));
            }
        }
        // A stable sort by time: entries of one stream keep their order.
        entries.sort_by_key(|(order, _, _)| *order);
        entries.truncate(limit);
        self.replicated_outbox(entries.iter().map(|(_, stream_key, _)| stream_key.as_str()))
            .await?;
        Ok(entries.into_iter().map(|(_, _, entry)| entry).collect())
    }

    /// Removes published entries, and with them their bytes (see remove_published.lua): a
    /// deleted entry's personal data must not stay readable in memory or in a backup.
    async fn remove(&self, ids: &[String]) -> Result<(), StoreError> {
        let mut by_stream: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for id in ids {
            let (key, stream_id) = outbox_entry_location(id)?;
            by_stream.entry(key).or_default().push(stream_id);
        }
        let removals = by_stream.into_iter().map(|(key, stream_ids)| {
            let mut connection = self.reconnecting();
            async move {
                REMOVE_PUBLISHED
                    .key(key)
                    .arg(OUTBOX_COMPACTION_LIMIT)
                    .arg(&stream_ids)
                    .invoke_async::<i64>(&mut connection)
                    .await
            }
        });
        store_call("outbox_remove", futures::future::try_join_all(removals))
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        let lengths = outbox_streams().map(|(_, key)| {
            let mut connection = self.reconnecting();
            async move { connection.xlen::<_, u64>(key).await }
        });
        store_call("outbox_depth", futures::future::try_join_all(lengths))
            .await
            .map(|lengths| lengths.into_iter().sum())
            .map_err(unavailable)
    }

    /// A lease a failover loses lets a second relay run beside the first: events go out
    /// twice under their event ids, which consumers dedupe; so it waits for no replica. What
    /// the relay publishes is replicated by [`Outbox::oldest`].
    async fn acquire_relay_lease(&self, ttl: Duration) -> Result<Option<String>, StoreError> {
        let mut connection = self.reconnecting();
        let token = uuid::Uuid::new_v4().to_string();
        let taken: Option<String> = store_call(
            "acquire_relay_lease",
            redis::cmd("SET")
                .arg(RELAY_LEASE_KEY)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
                .query_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        Ok(taken.map(|_| token))
    }

    async fn release_relay_lease(&self, token: &str) -> Result<(), StoreError> {
        let mut connection = self.reconnecting();
        store_call(
            "release_relay_lease",
            RELEASE_LEASE
                .key(RELAY_LEASE_KEY)
                .arg(token)
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
        .map_err(unavailable)
    }

    async fn renew_relay_lease(&self, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut connection = self.reconnecting();
        let renewed: i64 = store_call(
            "renew_relay_lease",
            RENEW_LEASE
                .key(RELAY_LEASE_KEY)
                .arg(token)
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        Ok(renewed == 1)
    }
}
