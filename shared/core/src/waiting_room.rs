//! The waiting room: people take a number once (one place per person, not per tab), an inlet
//! lets them in in order at a rate the back end can serve, and it closes when no slot is left.
//!
//! A ticket carries the position and a keyed pseudonym of the person, signed, so a status poll
//! needs only the shared serving number (one answer for everybody, cacheable) and no per-person
//! look-up. Admission tokens are signed too, short-lived and bound to the person's ID, so
//! `POST /booking` checks them without a store round trip.
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::WaitingRoomConfig;
use crate::domain::MySejahteraId;
use crate::ports::{QueueJoin, QueueProgress, QueueStore, RoomEpoch, StoreError};
use crate::service_metrics;

/// How long an admission token is good for: long enough to fill in the form, short enough
/// that a token copied elsewhere soon stops working.
pub const ADMISSION_TOKEN_TTL: Duration = Duration::from_secs(10 * 60);
/// Bytes of HMAC kept in tickets, tokens and pseudonyms: 128 bits, beyond guessing.
const MAC_BYTES: usize = 16;

/// Milliseconds since the Unix epoch; a trait so tests can move time.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            })
    }
}

/// Signs and checks tickets and admission tokens with the server-side key (`ADMISSION_KEY`).
#[derive(Clone)]
pub struct AdmissionKeys {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for AdmissionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdmissionKeys(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

impl AdmissionKeys {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.into() }
    }

    /// A MAC over `purpose` and `fields`; the purpose keeps a ticket from passing as a token.
    fn mac(&self, purpose: &str, fields: &[&str]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(purpose.as_bytes());
        for field in fields {
            mac.update(b"\x1f");
            mac.update(field.as_bytes());
        }
        mac
    }

    fn sign(&self, purpose: &str, fields: &[&str]) -> String {
        hex(&self.mac(purpose, fields).finalize().into_bytes()[..MAC_BYTES])
    }

    /// Constant-time comparison of `signature` (hex) with the MAC of `fields`.
    fn verify(&self, purpose: &str, fields: &[&str], signature: &str) -> bool {
        let Some(bytes) = unhex(signature) else {
            return false;
        };
        bytes.len() == MAC_BYTES
            && self
                .mac(purpose, fields)
                .verify_truncated_left(&bytes)
                .is_ok()
    }

    /// The person as tickets and the queue's keys name them: a keyed hash, so a ticket in a URL
    /// or a CDN log does not reveal the ID, and nobody without the key can link the two.
    pub fn pseudonym(&self, id: &MySejahteraId) -> String {
        self.sign("person", &[id.as_str()])
    }

    /// `{epoch}.{position}.{pseudonym}.{signature}`: URL-safe, readable by the client (the
    /// position), unforgeable, and good only in the room's epoch it was given in.
    pub fn ticket(&self, epoch: u64, position: u64, pseudonym: &str) -> String {
        let (epoch, position) = (epoch.to_string(), position.to_string());
        let signature = self.sign("ticket", &[&epoch, &position, pseudonym]);
        format!("{epoch}.{position}.{pseudonym}.{signature}")
    }

    /// The epoch, position and pseudonym of a ticket this key signed; None for anything else.
    pub fn read_ticket<'t>(&self, ticket: &'t str) -> Option<(u64, u64, &'t str)> {
        let mut parts = ticket.split('.');
        let (epoch, position, pseudonym, signature) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || !self.verify("ticket", &[epoch, position, pseudonym], signature)
        {
            return None;
        }
        Some((epoch.parse().ok()?, position.parse().ok()?, pseudonym))
    }

    /// `{epoch}.{expires_at_ms}.{signature}` over the epoch, the expiry and the person's
    /// pseudonym: only useful with that person's ID in the booking's body, while that epoch
    /// is open.
    pub fn admission_token(&self, epoch: u64, pseudonym: &str, expires_at_ms: u64) -> String {
        let (epoch, expires) = (epoch.to_string(), expires_at_ms.to_string());
        let signature = self.sign("admission", &[&epoch, &expires, pseudonym]);
        format!("{epoch}.{expires}.{signature}")
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Why `POST /booking` was refused while the room is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAdmitted {
    #[error("no Admission-Token header")]
    Missing,
    #[error("the admission token is not valid for this person")]
    Invalid,
    #[error("the admission token has expired")]
    Expired,
    /// Given in an epoch that is over (a rehearsal, an earlier opening).
    #[error("the admission token is from an earlier opening of the waiting room")]
    OtherEpoch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long the gate trusts its last read of the room's epoch: a closed epoch's tokens stop
/// working within it, and a rush of bookings costs the store one read a second per process.
pub const EPOCH_CACHE_MS: u64 = 1_000;

/// The check `POST /booking` makes while the room is on. The token is signed, so checking it
/// needs no store but for the room's epoch, read at most once a second.
#[derive(Clone)]
pub struct AdmissionGate {
    keys: AdmissionKeys,
    clock: Arc<dyn Clock>,
    store: Arc<dyn QueueStore>,
    epoch: Arc<Mutex<Option<EpochRead>>>,
}

/// The gate's last read of the room: when (ms), and the epoch then open.
type EpochRead = (u64, Option<u64>);

impl AdmissionGate {
    /// The check `POST /booking` makes while the room is on (`WAITING_ROOM=on`); None while
    /// it is off.
    pub fn configured(store: Arc<dyn QueueStore>, config: &WaitingRoomConfig) -> Option<Self> {
        config.room_on.then(|| {
            Self::new(
                AdmissionKeys::new(&config.admission_key),
                Arc::new(SystemClock),
                store,
            )
        })
    }

    pub fn new(keys: AdmissionKeys, clock: Arc<dyn Clock>, store: Arc<dyn QueueStore>) -> Self {
        Self {
            keys,
            clock,
            store,
            epoch: Arc::new(Mutex::new(None)),
        }
    }

    pub async fn check(&self, token: Option<&str>, id: &MySejahteraId) -> Result<(), NotAdmitted> {
        let result = self.verify(token, id).await;
        if let Err(refusal) = &result {
            service_metrics::admission_refused(refusal.reason());
        }
        result
    }

    async fn verify(&self, token: Option<&str>, id: &MySejahteraId) -> Result<(), NotAdmitted> {
        let token = token.ok_or(NotAdmitted::Missing)?;
        let mut parts = token.split('.');
        let (Some(epoch), Some(expires), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(NotAdmitted::Invalid);
        };
        let pseudonym = self.keys.pseudonym(id);
        if !self
            .keys
            .verify("admission", &[epoch, expires, &pseudonym], signature)
        {
            return Err(NotAdmitted::Invalid);
        }
        let (epoch, expires): (u64, u64) = (
            epoch.parse().map_err(|_| NotAdmitted::Invalid)?,
            expires.parse().map_err(|_| NotAdmitted::Invalid)?,
        );
        if self.clock.now_ms() >= expires {
            return Err(NotAdmitted::Expired);
        }
        if self.open_epoch().await? != Some(epoch) {
            return Err(NotAdmitted::OtherEpoch);
        }
        Ok(())
    }

    async fn open_epoch(&self) -> Result<Option<u64>, StoreError> {
        let now = self.clock.now_ms();
        let cached = *lock(&self.epoch);
        if let Some((read_at, epoch)) = cached
            && now.saturating_sub(read_at) < EPOCH_CACHE_MS
        {
            return Ok(epoch);
        }
        let epoch = self.store.progress().await?.epoch;
        *lock(&self.epoch) = Some((now, epoch));
        Ok(epoch)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl NotAdmitted {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::OtherEpoch => "other_epoch",
            Self::Store(_) => "store_unavailable",
        }
    }
}

/// Where a person stands, as `POST /queue` and `GET /queue/{ticket}` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStatus {
    Waiting,
    Admitted,
    /// No slot left anywhere.
    Closed,
}

impl QueueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Admitted => "admitted",
            Self::Closed => "closed",
        }
    }

    fn of(position: u64, progress: QueueProgress) -> Self {
        if !progress.open {
            Self::Closed
        } else if position <= progress.serving {
            Self::Admitted
        } else {
            Self::Waiting
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub ticket: String,
    pub position: u64,
    pub status: QueueStatus,
    pub newly_queued: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketStatus {
    pub position: u64,
    pub serving: u64,
    pub status: QueueStatus,
    /// Only when admitted.
    pub admission_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Also a ticket of an epoch that is over: one answer, so an old ticket tells nothing.
    #[error("not a ticket of the waiting room now open")]
    Unknown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("the waiting room is not open")]
    NotOpen,
    #[error("the waiting room is full ({max_size} places)")]
    Full { max_size: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a room lives when it is opened without saying, and the most it may: its keys
/// expire then, whatever else happens.
pub const DEFAULT_ROOM_HOURS: u64 = 12;
pub const MAX_ROOM_HOURS: u64 = 7 * 24;
/// Places a room gives out when opened without saying: the opening-minute scale the design
/// plans for (3 million people), about 350 MB of Redis at ~118 bytes a place.
pub const DEFAULT_ROOM_SIZE: u64 = 3_000_000;

/// Joining and polling the queue.
#[derive(Clone)]
pub struct WaitingRoom {
    store: Arc<dyn QueueStore>,
    keys: AdmissionKeys,
    clock: Arc<dyn Clock>,
    identity: crate::identity::IdentityCheck,
}

impl WaitingRoom {
    pub fn new(store: Arc<dyn QueueStore>, keys: AdmissionKeys, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            keys,
            clock,
            identity: crate::identity::IdentityCheck::none(),
        }
    }

    /// Who may take a place for an ID (`IDENTITY`): with a mode on, a place costs a verified
    /// identity. None by default.
    #[must_use]
    pub fn with_identity(mut self, identity: crate::identity::IdentityCheck) -> Self {
        self.identity = identity;
        self
    }

    /// The check `POST /queue` runs before the person's place is looked up.
    pub fn identity(&self) -> &crate::identity::IdentityCheck {
        &self.identity
    }

    /// The room over `store` as configured (`ADMISSION_KEY`), on the system clock.
    pub fn configured(store: Arc<dyn QueueStore>, config: &WaitingRoomConfig) -> Self {
        Self::new(
            store,
            AdmissionKeys::new(&config.admission_key),
            Arc::new(SystemClock),
        )
    }

    /// The gate `POST /booking` uses, with this room's key, clock and store.
    pub fn gate(&self) -> AdmissionGate {
        AdmissionGate::new(
            self.keys.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.store),
        )
    }

    pub async fn join(&self, id: &MySejahteraId) -> Result<Joined, JoinError> {
        let pseudonym = self.keys.pseudonym(id);
        let place = match self.store.join(&pseudonym).await? {
            QueueJoin::Placed(place) => place,
            QueueJoin::NotOpen => return Err(JoinError::NotOpen),
            QueueJoin::Full { max_size } => {
                service_metrics::queue_full();
                return Err(JoinError::Full { max_size });
            }
        };
        service_metrics::queue_joined(place.newly_queued);
        Ok(Joined {
            ticket: self.keys.ticket(place.epoch, place.position, &pseudonym),
            position: place.position,
            status: QueueStatus::of(place.position, place.progress),
            newly_queued: place.newly_queued,
        })
    }

    /// The serving number and whether the room is open: one answer for everybody.
    pub async fn progress(&self) -> Result<QueueProgress, StoreError> {
        self.store.progress().await
    }

    /// The ticket holder's status, with a fresh admission token once admitted.
    pub async fn ticket_status(&self, ticket: &str) -> Result<TicketStatus, TicketError> {
        let (epoch, position, pseudonym) =
            self.keys.read_ticket(ticket).ok_or(TicketError::Unknown)?;
        let progress = self.store.progress().await?;
        if progress.epoch != Some(epoch) {
            return Err(TicketError::Unknown);
        }
        let status = QueueStatus::of(position, progress);
        let admission_token = (status == QueueStatus::Admitted).then(|| {
            let ttl = u64::try_from(ADMISSION_TOKEN_TTL.as_millis()).unwrap_or(u64::MAX);
            self.keys
                .admission_token(epoch, pseudonym, self.clock.now_ms().saturating_add(ttl))
        });
        Ok(TicketStatus {
            position,
            serving: progress.serving,
            status,
            admission_token,
        })
    }
}

/// The operator's commands for the room (the seed function's `{"room": ...}` events): open an
/// epoch before booking opens, close it after. Needs no key: it touches no ticket or token.
pub struct RoomAdmin {
    store: Arc<dyn QueueStore>,
    clock: Arc<dyn Clock>,
}

impl RoomAdmin {
    pub fn new(store: Arc<dyn QueueStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// The operator's command: a new epoch that lives `hours` and gives out `max_size`
    /// places; whatever was open before is over.
    pub async fn open(&self, hours: u64, max_size: u64) -> Result<RoomEpoch, StoreError> {
        let lifetime_ms = hours.clamp(1, MAX_ROOM_HOURS) * 3_600_000;
        self.store
            .open_room(self.clock.now_ms(), lifetime_ms, max_size.max(1))
            .await
    }

    /// The operator's command: the open epoch ends now.
    pub async fn close(&self) -> Result<Option<RoomEpoch>, StoreError> {
        self.store.close_room().await
    }

    /// For a process that plays the operator locally (local-api): opens a room with the
    /// defaults unless one is open (then None), so a restart does not start the queue afresh.
    pub async fn open_unless_open(&self) -> Result<Option<RoomEpoch>, StoreError> {
        if self.store.progress().await?.epoch.is_some() {
            return Ok(None);
        }
        self.open(DEFAULT_ROOM_HOURS, DEFAULT_ROOM_SIZE)
            .await
            .map(Some)
    }
}

/// How the inlet decides how many people to let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InletMode {
    /// A fixed rate, people per minute.
    Rate,
    /// The booking rate measured over the last minute plus a quarter (so the back end is never
    /// idle for want of people), at least a tenth of the configured rate (so people who leave
    /// without booking cannot stall the queue) and at most the configured rate.
    Capacity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InletSettings {
    pub mode: InletMode,
    pub people_per_minute: u64,
}

/// What one inlet tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InletTick {
    pub progress: QueueProgress,
    pub slots_left: u64,
    /// The rate this tick admitted at, people per minute.
    pub people_per_minute: u64,
}

/// Advances the serving number. Safe to run in several places at once: the rate is accounted
/// in the store, not here.
pub struct Inlet {
    store: Arc<dyn QueueStore>,
    settings: InletSettings,
    clock: Arc<dyn Clock>,
    /// (time, slots left) of the last minute's ticks: the measured booking rate.
    samples: Mutex<VecDeque<(u64, u64)>>,
}

const MINUTE_MS: u64 = 60_000;

impl Inlet {
    pub fn new(store: Arc<dyn QueueStore>, settings: InletSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            settings,
            clock,
            samples: Mutex::new(VecDeque::new()),
        }
    }

    pub async fn tick(&self) -> Result<InletTick, StoreError> {
        let slots_left = self.store.slots_left().await?;
        let now = self.clock.now_ms();
        let people_per_minute = match self.settings.mode {
            InletMode::Rate => self.settings.people_per_minute,
            InletMode::Capacity => self.capacity_rate(now, slots_left),
        };
        let progress = self
            .store
            .advance(now, people_per_minute, slots_left, slots_left == 0)
            .await?;
        service_metrics::queue_progress(progress.serving, progress.open, slots_left);
        Ok(InletTick {
            progress,
            slots_left,
            people_per_minute,
        })
    }

    fn capacity_rate(&self, now: u64, slots_left: u64) -> u64 {
        let ceiling = self.settings.people_per_minute;
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back((now, slots_left));
        while samples
            .front()
            .is_some_and(|(at, _)| now.saturating_sub(*at) > MINUTE_MS)
        {
            samples.pop_front();
        }
        let (first_at, first_left) = *samples.front().expect("just pushed");
        let elapsed = now.saturating_sub(first_at).max(1);
        // Slots only come back by cancellations; count those as no bookings.
        let booked = first_left.saturating_sub(slots_left);
        let per_minute = booked.saturating_mul(MINUTE_MS) / elapsed;
        (per_minute + per_minute / 4).clamp(ceiling / 10, ceiling)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::ports::MockQueueStore;

    struct ManualClock(AtomicU64);

    impl Clock for ManualClock {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn id(raw: &str) -> MySejahteraId {
        MySejahteraId::parse(raw).unwrap()
    }

    fn alice() -> MySejahteraId {
        id("900127015527")
    }

    fn keys() -> AdmissionKeys {
        AdmissionKeys::new(b"a test key that is long enough!!")
    }

    #[test]
    fn tickets_verify_only_unaltered_and_under_the_same_key() {
        let keys = keys();
        let pseudonym = keys.pseudonym(&id("900127015527"));
        assert!(!pseudonym.contains("900127015527"));
        let ticket = keys.ticket(7, 42, &pseudonym);
        assert_eq!(keys.read_ticket(&ticket), Some((7, 42, pseudonym.as_str())));
        let moved_forward = ticket.replacen(".42.", ".1.", 1);
        let other_epoch = ticket.replacen("7.", "8.", 1);
        let before_epochs = ticket.replacen("7.", "", 1);
        let other_key = AdmissionKeys::new(b"another key, also long enough!!!");
        for forged in [
            moved_forward.as_str(),
            &other_epoch,
            &before_epochs,
            "",
            "42",
            "42..",
            &format!("{ticket}.x"),
            &ticket[..ticket.len() - 1],
        ] {
            assert_eq!(keys.read_ticket(forged), None, "{forged:?}");
        }
        assert_eq!(other_key.read_ticket(&ticket), None);
    }

    /// A store whose open room is `epoch`, counting how often it was asked.
    fn room_at(epoch: Option<u64>, asked: Arc<AtomicU64>) -> Arc<dyn QueueStore> {
        let mut store = MockQueueStore::new();
        store.expect_progress().returning(move || {
            asked.fetch_add(1, Ordering::SeqCst);
            Ok(QueueProgress {
                serving: 0,
                open: epoch.is_some(),
                epoch,
            })
        });
        Arc::new(store)
    }

    #[tokio::test]
    async fn tokens_admit_only_their_person_in_their_epoch_and_only_until_they_expire() {
        let keys = keys();
        let clock = Arc::new(ManualClock(AtomicU64::new(1_000)));
        let reads = Arc::new(AtomicU64::new(0));
        let gate = AdmissionGate::new(keys.clone(), clock.clone(), room_at(Some(7), reads.clone()));
        let alice = id("900127015527");
        let token = keys.admission_token(7, &keys.pseudonym(&alice), 2_000);
        let earlier_epoch = keys.admission_token(6, &keys.pseudonym(&alice), 2_000);
        type Case<'a> = (
            Option<&'a str>,
            &'a MySejahteraId,
            u64,
            Result<(), NotAdmitted>,
        );
        let table: [Case; 8] = [
            (Some(&token), &alice, 1_000, Ok(())),
            (Some(&token), &alice, 1_999, Ok(())),
            (Some(&token), &alice, 2_000, Err(NotAdmitted::Expired)),
            (
                Some(&earlier_epoch),
                &alice,
                1_000,
                Err(NotAdmitted::OtherEpoch),
            ),
            (
                Some(&token),
                &id("900127015528"),
                1_000,
                Err(NotAdmitted::Invalid),
            ),
            (None, &alice, 1_000, Err(NotAdmitted::Missing)),
            (
                Some("7.9999999999999.00"),
                &alice,
                1_000,
                Err(NotAdmitted::Invalid),
            ),
            (Some("garbage"), &alice, 1_000, Err(NotAdmitted::Invalid)),
        ];
        for (token, person, now, expected) in table {
            clock.0.store(now, Ordering::SeqCst);
            assert_eq!(
                gate.check(token, person).await,
                expected,
                "{token:?} at {now}"
            );
        }
        // A later expiry or another epoch written into the token breaks its signature.
        clock.0.store(1_000, Ordering::SeqCst);
        for altered in [
            token.replacen(".2000.", ".9000.", 1),
            token.replacen("7.", "8.", 1),
        ] {
            assert_eq!(
                gate.check(Some(&altered), &alice).await,
                Err(NotAdmitted::Invalid)
            );
        }
        assert!(
            reads.load(Ordering::SeqCst) <= 2,
            "the epoch is read at most once a second, not per booking"
        );
    }

    #[tokio::test]
    async fn once_the_room_closes_its_tokens_stop_working_within_the_epoch_cache() {
        let keys = keys();
        let clock = Arc::new(ManualClock(AtomicU64::new(1_000)));
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let mut store = MockQueueStore::new();
        let state = Arc::clone(&open);
        store.expect_progress().returning(move || {
            let open = state.load(Ordering::SeqCst);
            Ok(QueueProgress {
                serving: 0,
                open,
                epoch: open.then_some(3),
            })
        });
        let gate = AdmissionGate::new(keys.clone(), clock.clone(), Arc::new(store));
        let alice = id("900127015527");
        let token = keys.admission_token(3, &keys.pseudonym(&alice), 60_000);
        assert_eq!(gate.check(Some(&token), &alice).await, Ok(()));
        open.store(false, Ordering::SeqCst);
        clock.0.store(1_000 + EPOCH_CACHE_MS, Ordering::SeqCst);
        assert_eq!(
            gate.check(Some(&token), &alice).await,
            Err(NotAdmitted::OtherEpoch)
        );
    }

    #[tokio::test]
    async fn status_follows_the_serving_number_and_tokens_come_only_when_admitted() {
        let cases = [
            (
                5,
                QueueProgress {
                    serving: 4,
                    open: true,
                    epoch: Some(1),
                },
                QueueStatus::Waiting,
            ),
            (
                5,
                QueueProgress {
                    serving: 5,
                    open: true,
                    epoch: Some(1),
                },
                QueueStatus::Admitted,
            ),
            (
                5,
                QueueProgress {
                    serving: 9,
                    open: false,
                    epoch: Some(1),
                },
                QueueStatus::Closed,
            ),
            (
                5,
                QueueProgress {
                    serving: 0,
                    open: false,
                    epoch: Some(1),
                },
                QueueStatus::Closed,
            ),
        ];
        for (position, progress, expected) in cases {
            let mut store = MockQueueStore::new();
            store.expect_progress().returning(move || Ok(progress));
            let keys = keys();
            let ticket = keys.ticket(1, position, &keys.pseudonym(&alice()));
            let clock = Arc::new(ManualClock(AtomicU64::new(0)));
            let room = WaitingRoom::new(Arc::new(store), keys, clock);
            let status = room.ticket_status(&ticket).await.unwrap();
            assert_eq!(status.status, expected, "{position} {progress:?}");
            assert_eq!(
                status.admission_token.is_some(),
                expected == QueueStatus::Admitted
            );
            assert!(
                room.gate()
                    .check(status.admission_token.as_deref(), &alice())
                    .await
                    .is_ok()
                    == (expected == QueueStatus::Admitted)
            );
        }
    }

    #[tokio::test]
    async fn a_ticket_of_an_earlier_epoch_is_unknown_and_gets_no_token() {
        let keys = keys();
        let mut store = MockQueueStore::new();
        store.expect_progress().returning(|| {
            Ok(QueueProgress {
                serving: 1_000,
                open: true,
                epoch: Some(2),
            })
        });
        let room = WaitingRoom::new(
            Arc::new(store),
            keys.clone(),
            Arc::new(ManualClock(AtomicU64::new(0))),
        );
        let rehearsal = keys.ticket(1, 1, &keys.pseudonym(&alice()));
        assert_eq!(
            room.ticket_status(&rehearsal).await,
            Err(TicketError::Unknown)
        );
    }

    #[tokio::test]
    async fn capacity_mode_follows_the_booking_rate_within_its_bounds() {
        // (ms since start, slots left) per tick, and the rate each tick should ask for.
        let ticks = [
            (0, 10_000, 100),       // nothing measured yet: the floor, a tenth of 1,000
            (30_000, 9_800, 500),   // 200 in 30 s = 400/min, plus a quarter
            (60_000, 9_000, 1_000), // 1,000 in 60 s = 1,000/min + 250, capped at 1,000
            (150_000, 9_000, 100),  // a minute without bookings: back to the floor
        ];
        let clock = Arc::new(ManualClock(AtomicU64::new(0)));
        let mut store = MockQueueStore::new();
        let left = Arc::new(AtomicU64::new(0));
        let asked = Arc::new(Mutex::new(Vec::new()));
        {
            let left = Arc::clone(&left);
            store
                .expect_slots_left()
                .returning(move || Ok(left.load(Ordering::SeqCst)));
            let asked = Arc::clone(&asked);
            store
                .expect_advance()
                .returning(move |_, rate, max_step, sold_out| {
                    asked.lock().unwrap().push(rate);
                    assert!(!sold_out);
                    Ok(QueueProgress {
                        serving: max_step,
                        open: true,
                        epoch: Some(1),
                    })
                });
        }
        let inlet = Inlet::new(
            Arc::new(store),
            InletSettings {
                mode: InletMode::Capacity,
                people_per_minute: 1_000,
            },
            clock.clone(),
        );
        for (at, slots, _) in ticks {
            clock.0.store(at, Ordering::SeqCst);
            left.store(slots, Ordering::SeqCst);
            inlet.tick().await.unwrap();
        }
        let expected: Vec<u64> = ticks.iter().map(|(_, _, rate)| *rate).collect();
        assert_eq!(*asked.lock().unwrap(), expected);
    }

    #[tokio::test]
    async fn the_inlet_closes_the_room_when_no_slot_is_left() {
        let mut store = MockQueueStore::new();
        store.expect_slots_left().returning(|| Ok(0));
        store
            .expect_advance()
            .withf(|_, _, max_step, sold_out| *max_step == 0 && *sold_out)
            .returning(|_, _, _, _| {
                Ok(QueueProgress {
                    serving: 3,
                    open: false,
                    epoch: Some(1),
                })
            });
        let inlet = Inlet::new(
            Arc::new(store),
            InletSettings {
                mode: InletMode::Rate,
                people_per_minute: 600,
            },
            Arc::new(SystemClock),
        );
        let tick = inlet.tick().await.unwrap();
        assert!(!tick.progress.open);
    }
}
