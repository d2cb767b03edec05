//! The key layout: every key this store writes, named in one place (the README's "Inspect
//! Redis" lists them for operators). Braces are hash tags: a station's keys share one hash
//! slot, and so do a person bucket's, so every script's keys live on one shard.
use booking_core::domain::{Location, MySejahteraId};

pub const STATIONS_KEY: &str = "stations";
/// Hashes location -> display name, and location -> address: in the hash slot of `stations`
/// (their tag is that key's name), so the list reads all three in one round trip on a cluster
/// too, and a seed writes them together.
pub const STATION_NAMES_KEY: &str = "station-names:{stations}";
pub const STATION_ADDRESSES_KEY: &str = "station-addresses:{stations}";
/// The one outbox stream of the releases before per-bucket streams: the relay still drains it,
/// so nothing written there before an upgrade is lost.
pub const LEGACY_OUTBOX_KEY: &str = "outbox:booking-events";
pub const RELAY_LEASE_KEY: &str = "outbox:relay-lease";

/// How many person buckets (and so outbox streams) there are. Part of the data layout: never
/// change it on live data.
pub const PERSON_BUCKETS: u16 = 256;

/// The person's bucket: the first byte of SHA-256 of the ID (so 0..=255). Part of the data
/// layout: never change it on live data.
pub fn person_bucket(id: &MySejahteraId) -> u16 {
    use sha2::Digest;
    u16::from(sha2::Sha256::digest(id.as_str().as_bytes())[0])
}

/// The hash tag of a person bucket: every key of the person, and the bucket's outbox stream,
/// live in the one hash slot it names.
pub(crate) fn bucket_tag(bucket: u16) -> String {
    format!("{{p:{bucket:03}}}")
}

pub(crate) fn person_key(kind: &str, id: &MySejahteraId) -> String {
    format!("{kind}:{}:{}", bucket_tag(person_bucket(id)), id.as_str())
}

pub fn slots_key(location: &Location) -> String {
    format!("slots:{{{location}}}")
}

pub fn capacity_key(location: &Location) -> String {
    format!("capacity:{{{location}}}")
}

pub fn held_key(location: &Location) -> String {
    format!("held:{{{location}}}")
}

/// Hash person ID -> `<holdId>|<date>`: who holds a slot at the station.
pub fn holders_key(location: &Location) -> String {
    format!("holders:{{{location}}}")
}

/// Hash person ID -> `<holdId>|<date>`: the booking's hold parked while a move to another date
/// of the same station is in flight (cluster protocol); its slot stays taken until the move is
/// confirmed or given up. Empty at rest.
pub fn moving_key(location: &Location) -> String {
    format!("moving:{{{location}}}")
}

/// Sorted set person ID -> when (Unix ms) their hold started or their cancel began: holds whose
/// person side is not known to be settled yet, the reconciler's work list.
pub fn unsettled_key(location: &Location) -> String {
    format!("unsettled:{{{location}}}")
}

pub fn booking_key(id: &MySejahteraId) -> String {
    person_key("booking", id)
}

/// The person's event counter: never deleted, so a rebooking's events continue the numbering.
pub fn event_sequence_key(id: &MySejahteraId) -> String {
    person_key("event-seq", id)
}

/// The person's booking in progress (cluster protocol): hash holdId, location, date, booking,
/// startedAt; expires after the claim TTL.
pub fn claim_key(id: &MySejahteraId) -> String {
    person_key("claim", id)
}

/// The outbox stream of one person bucket.
pub fn outbox_key(bucket: u16) -> String {
    format!("outbox:{}", bucket_tag(bucket))
}

/// The outbox stream of the person's bucket: all their events, in order, in one stream.
pub fn person_outbox_key(id: &MySejahteraId) -> String {
    outbox_key(person_bucket(id))
}

pub fn booking_owner_key(id: &MySejahteraId) -> String {
    person_key("booking-owner", id)
}

/// The keyed digest of the `Idempotency-Key` the person's booking was made with: a string that
/// expires with the reference's retry window (only a retry with that key is shown it again).
pub fn booking_retry_key(id: &MySejahteraId) -> String {
    person_key("booking-retry", id)
}

/// The hash tag Redis Cluster hashes `key` by: what lies between its first `{` and the next
/// `}` when that is not empty, else the whole key.
fn hash_tag(key: &str) -> &str {
    key.split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(tag, _)| tag)
        .filter(|tag| !tag.is_empty())
        .unwrap_or(key)
}

/// A string in the same hash slot as `key` (any key of this layout: none has a `}` outside its
/// tag), holding nothing anybody reads: a step that acts on
/// what it read there (a booking, or that none is left) writes it, so the `WAIT` after the
/// step covers every write the shard applied before, whether or not the step wrote anything
/// else (WAIT counts a connection's own writes only).
pub fn fence_key(key: &str) -> String {
    format!("fence:{{{}}}", hash_tag(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_shares_its_keys_hash_slot() {
        let cases = [
            ("outbox:{p:007}", "fence:{p:007}"),
            ("claim:{p:007}:900127015527", "fence:{p:007}"),
            ("holders:{PWTC}", "fence:{PWTC}"),
            (STATION_NAMES_KEY, "fence:{stations}"),
            // No tag: Redis hashes the whole key, and so the fence's tag.
            (LEGACY_OUTBOX_KEY, "fence:{outbox:booking-events}"),
        ];
        for (key, fence) in cases {
            assert_eq!(fence_key(key), fence, "{key}");
        }
    }
}
