//! Booking and cancelling on a Redis Cluster, where the person's keys (`{p:NNN}`) and the
//! station's keys (`{L}`) live on different shards, so no one script can change both. Each
//! step is one idempotent script on one shard (see the README's "Redis Cluster" for the states):
//! 1. `claim` (person, after a read of the station's shard): a pending claim with a fresh holdId
//!    and a TTL, or the station's refusal (unknown or full date, the same for every person), or
//!    the person's existing booking's answer, or `booking_in_progress` for another live attempt;
//! 2. `hold` (station): takes the slot under the holdId, records the holder and puts the person
//!    on the station's `unsettled` work list;
//! 3. `confirm` (person): while the claim is still this holdId's, turns it into the booking,
//!    its owner record and its event; otherwise the hold is released and the answer is 503;
//! 4. `settle` (station): off the work list. A crash before it costs nothing: the reconciler
//!    settles it.
//!
//! A move ([`RedisStore::move_in_steps`]) claims the person the same way, holds the new slot
//! before the old one is released (within one station, beside the booking's hold, parked in
//! `moving:{L}`), confirms on the person's shard, then gives the old slot back.
//!
//! The reconciler ([`RedisStore::reconcile`]) resolves every work-list entry older than the
//! claim TTL: one script on the person's shard decides (and deletes a stale claim, so a late
//! confirm fails), then the station's side follows. Steps are public so that tests can stop
//! between any two of them.
//!
//! Replication (`REDIS_WAIT_REPLICAS`): a step that another step, or an answer, rests on runs
//! with `WAIT` in the same round trip ([`RedisStore::invoke_replicated`]), and its caller goes
//! on only once the replicas acknowledged it; a script that answers from what it read without
//! writing writes a fence ([`fence_key`]) or its record again, so that the WAIT covers what it
//! read. So nothing is confirmed (201/200), no slot is given back, no hold is settled and no
//! event is published before every write it rests on is on the replicas of every shard those
//! writes touched: a failover to a replica that lags loses only what nobody relied on. The
//! README's table says what each step waits for.
use std::time::Duration;

use tokio::time::Instant;

use super::*;

/// How long a booking attempt's claim lives: longer than a request may take (its Redis round
/// trips are bounded by the client's response timeout), so a live request never loses its
/// claim, and short enough that an abandoned attempt frees the person soon.
pub const CLAIM_TTL: Duration = Duration::from_secs(10);

/// Work-list entries the reconciler reads per station per round.
const RECONCILE_BATCH: usize = 100;

static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("claim.lua")));
/// Reads only (`no-writes`), so it answers even where Redis refuses writes.
static SLOT_REFUSAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        "#!lua flags=no-writes\n",
        include_str!("take_slot.lua"),
        include_str!("slot_refusal.lua")
    ))
});
static HOLD: LazyLock<Script> = composed_script!("take_slot.lua", "hold.lua");
static CONFIRM: LazyLock<Script> = composed_script!("record_booking.lua", "confirm.lua");
static SETTLE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("settle.lua")));
static RELEASE: LazyLock<Script> = composed_script!("give_back_slot.lua", "release.lua");
static RESOLVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("resolve.lua")));
static MARK_FOR_CANCEL: LazyLock<Script> =
    composed_script!("mark_unsettled.lua", "mark_for_cancel.lua");
static CANCEL_PERSON: LazyLock<Script> =
    composed_script!("remove_booking.lua", "cancel_person.lua");
static CLAIM_MOVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("claim_move.lua")));
static HOLD_MOVE: LazyLock<Script> =
    composed_script!("take_slot.lua", "mark_unsettled.lua", "hold_move.lua");
static CONFIRM_MOVE: LazyLock<Script> = composed_script!("record_move.lua", "confirm_move.lua");
static RELEASE_PARKED: LazyLock<Script> =
    composed_script!("give_back_slot.lua", "release_parked.lua");
static FORGET_UNSETTLED: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("forget_unsettled.lua")));
/// Deletes the person's claim if it is still this holdId's (a refused attempt).
static DROP_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('HGET', KEYS[1], 'holdId') == ARGV[1] then \
           return redis.call('DEL', KEYS[1]) end return 0",
    )
});

/// The scripts that book, cancel and move, and those the relay and the reconciler run after
/// them, each by the name of its step (the cluster protocol's steps, a single Redis's
/// one-script book, cancel and move, the relay's outbox and retention steps): a script goes
/// out as EVALSHA of its hash, so a test watching round trips (see [`crate::RoundTripGate`])
/// tells the steps apart by it, and a test that fails over to a replica loads every one of
/// them there first.
pub fn step_scripts() -> Vec<(&'static str, &'static Script)> {
    vec![
        ("book", &*crate::slots::BOOK as &'static Script),
        ("cancel", &crate::slots::CANCEL),
        ("move", &crate::slots::MOVE),
        ("claim", &CLAIM),
        ("slot_refusal", &SLOT_REFUSAL),
        ("hold", &HOLD),
        ("confirm", &CONFIRM),
        ("settle", &SETTLE),
        ("release", &RELEASE),
        ("resolve", &RESOLVE),
        ("cancel_mark", &MARK_FOR_CANCEL),
        ("cancel_person", &CANCEL_PERSON),
        ("claim_move", &CLAIM_MOVE),
        ("hold_move", &HOLD_MOVE),
        ("confirm_move", &CONFIRM_MOVE),
        ("release_parked", &RELEASE_PARKED),
        ("forget_unsettled", &FORGET_UNSETTLED),
        ("drop_claim", &DROP_CLAIM),
        ("remove_published", &crate::outbox::REMOVE_PUBLISHED),
        ("renew_lease", &crate::outbox::RENEW_LEASE),
        ("release_lease", &crate::outbox::RELEASE_LEASE),
        ("forget_past_dates", &crate::retention::FORGET_PAST_DATES),
        (
            "forget_past_holders",
            &crate::retention::FORGET_PAST_HOLDERS,
        ),
    ]
}

/// A fresh hold id: 128 random bits, hex.
pub fn new_hold_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What step 1 said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// Go on with this holdId (new, or the live claim of the identical request).
    Claim { hold_id: String },
    /// Decided on the person's shard alone: already held, already booked, in progress.
    Decided(BookingOutcome),
}

/// What move step 1 said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveClaimed {
    /// Go on with this holdId (new, or the live claim of the identical move); `from_hold` is
    /// the booking's hold the move leaves.
    Claim { hold_id: String, from_hold: String },
    /// Decided on the person's shard alone, as move.lua would answer: no booking under the
    /// nonce (empty), `changed`, `in_progress`.
    Decided(Vec<String>),
}

/// A hold step to run: a booking's (hold.lua), or a move's within one station (hold_move.lua).
#[derive(Clone, Copy)]
enum HoldStep<'a> {
    Booking {
        booking: &'a Booking,
        hold_id: &'a str,
    },
    WithinStation {
        from: &'a Booking,
        from_hold: &'a str,
        to: &'a Booking,
        hold_id: &'a str,
    },
}

/// What step 2 said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// The slot is held; `score` is the hold's entry in the station's work list.
    Held { score: String },
    /// The person holds a slot here under another holdId (`holdId|date`), maybe stale.
    Stale { holder: String },
    /// Fully booked, unknown station or date: nothing changed.
    Refused(BookingOutcome),
}

/// Cancel step (a)'s entry on the station's work list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelMark {
    /// The entry's score: newer than any the person had there, so no settle decided before
    /// the cancel removes it.
    pub score: String,
    /// Whether the person had no entry before: a cancel that cancels nothing takes a new entry
    /// away again, and leaves a renewed one for the reconciler.
    pub new: bool,
}

/// What became of the person's side of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Booked,
    InFlight,
    Gone,
}

/// What one reconciler run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciled {
    /// Holds found to be their booking's: off the work list.
    pub settled: u64,
    /// Holds nobody will confirm: their slots are free again.
    pub released: u64,
    /// Entries left for a later run (a claim still within its TTL).
    pub in_flight: u64,
    /// Entries whose person held nothing here any more.
    pub forgotten: u64,
    /// True when the deadline stopped the run; the next run goes on.
    pub deadline_reached: bool,
}

fn station_keys<'a, 's>(
    invocation: &'a mut ScriptInvocation<'s>,
    location: &Location,
) -> &'a mut ScriptInvocation<'s> {
    invocation
        .key(slots_key(location))
        .key(capacity_key(location))
        .key(held_key(location))
        .key(holders_key(location))
        .key(unsettled_key(location))
        .key(moving_key(location))
}

/// The holdId of a `holdId|date` entry.
fn hold_of(entry: &str) -> &str {
    entry.split_once('|').map_or(entry, |(hold, _)| hold)
}

/// The code a refused hold answers with, as move.lua's refusals read.
fn refusal_code(outcome: &BookingOutcome) -> &'static str {
    match outcome {
        BookingOutcome::UnknownStation => "unknown_station",
        BookingOutcome::UnknownDate => "unknown_date",
        _ => "fully_booked",
    }
}

fn is_already_held(reply: &[String]) -> bool {
    reply.first().map(String::as_str) == Some("already_held")
}

/// The person's keys every claim-reading script starts with: booking, owner record, claim.
fn claim_keys<'a, 's>(
    invocation: &'a mut ScriptInvocation<'s>,
    id: &MySejahteraId,
) -> &'a mut ScriptInvocation<'s> {
    invocation
        .key(booking_key(id))
        .key(booking_owner_key(id))
        .key(claim_key(id))
}

/// The person's keys a confirming script (confirm, confirm_move) writes: the claim's, then the
/// event counter, the outbox stream and the fence.
fn confirm_keys<'a, 's>(
    invocation: &'a mut ScriptInvocation<'s>,
    id: &MySejahteraId,
) -> &'a mut ScriptInvocation<'s> {
    claim_keys(invocation, id)
        .key(event_sequence_key(id))
        .key(person_outbox_key(id))
        .key(fence_key(&claim_key(id)))
}

fn retry_later(why: &str) -> StoreError {
    StoreError::Unavailable(format!("{why}; the identical request is safe to repeat"))
}

impl RedisStore {
    fn now_ms(&self) -> u64 {
        unix_millis(self.clock.now())
    }

    fn claim_ttl_ms(&self) -> u64 {
        u64::try_from(self.claim_ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// Step 1: a read on the station's shard, then the claim on the person's shard. The read
    /// comes first so that an unknown or full date is refused the same for every person,
    /// booked or not (issue 23); it decides nothing about slots (the hold does, atomically),
    /// and a date that fills or empties in between is as if the request came a moment
    /// earlier. A new claim needs no replica: if a failover loses it, confirm finds it gone and
    /// the attempt answers 503. The identical request's booking (200) does: the claim script
    /// writes the booking again and runs once more, with WAIT.
    pub async fn claim(&self, booking: &Booking) -> Result<Claimed, StoreError> {
        let id = &booking.mysejahtera_id;
        let refusal = self.slot_refusal(booking).await?;
        let mut invocation = CLAIM.prepare_invoke();
        claim_keys(&mut invocation, id)
            .key(booking_retry_key(id))
            .arg(booking.to_json())
            .arg(new_hold_id())
            .arg(booking.location.as_str())
            .arg(booking.date.to_string())
            .arg(self.claim_ttl_ms())
            .arg(self.now_ms())
            .arg(refusal);
        let mut connection = self.reconnecting();
        let mut reply: Vec<String> = store_call("claim", invocation.invoke_async(&mut connection))
            .await
            .map_err(unavailable)?;
        if is_already_held(&reply) && self.wait.replicas > 0 {
            let acked;
            (reply, acked) = self.invoke_replicated("claim", &invocation).await?;
            if is_already_held(&reply) {
                self.confirm_replicated(acked)?;
            }
        }
        match reply.as_slice() {
            [outcome, hold_id] if outcome == "claimed" => Ok(Claimed::Claim {
                hold_id: hold_id.clone(),
            }),
            _ => booking_outcome(id, &reply, "claim script").map(Claimed::Decided),
        }
    }

    /// Why the booking's date cannot be booked (`unknown_station`, `unknown_date`,
    /// `fully_booked`), or "" when it can, as the station's shard reads it now.
    async fn slot_refusal(&self, booking: &Booking) -> Result<String, StoreError> {
        let mut connection = self.reconnecting();
        store_call(
            "slot_refusal",
            SLOT_REFUSAL
                .key(slots_key(&booking.location))
                .key(held_key(&booking.location))
                .key(capacity_key(&booking.location))
                .arg(booking.date.to_string())
                .invoke_async(&mut connection),
        )
        .await
        .map_err(unavailable)
    }

    /// Step 2, on the station's shard: a hold goes on to confirm only once the replicas have it
    /// (a failover could otherwise lose the slot of a booking it confirms).
    pub async fn hold(&self, booking: &Booking, hold_id: &str) -> Result<Held, StoreError> {
        let mut invocation = HOLD.prepare_invoke();
        station_keys(&mut invocation, &booking.location)
            .arg(booking.mysejahtera_id.as_str())
            .arg(hold_id)
            .arg(booking.date.to_string())
            .arg(self.now_ms());
        let (reply, acked): (Vec<String>, _) = self.invoke_replicated("hold", &invocation).await?;
        match reply.as_slice() {
            [outcome, score] if outcome == "held" => {
                // A hold a failover could lose must not become a booking.
                self.confirm_replicated(acked)?;
                Ok(Held::Held {
                    score: score.clone(),
                })
            }
            [outcome, holder] if outcome == "stale_hold" => Ok(Held::Stale {
                holder: holder.clone(),
            }),
            _ => booking_outcome(&booking.mysejahtera_id, &reply, "hold script").map(Held::Refused),
        }
    }

    /// Step 3, on the person's shard. None when the claim is no longer this hold's. Every
    /// answer waits for the replicas: a 201 (or 200) for the booking, the claim's loss before
    /// the hold is given back.
    pub async fn confirm(
        &self,
        booking: &Booking,
        event: &EventRecord,
        ownership: &BookingOwnership,
        hold_id: &str,
    ) -> Result<Option<BookingOutcome>, StoreError> {
        let id = &booking.mysejahtera_id;
        let mut invocation = CONFIRM.prepare_invoke();
        confirm_keys(&mut invocation, id)
            .key(booking_retry_key(id))
            .arg(hold_id)
            .arg(booking.to_json())
            .arg(&event.key)
            .arg(&event.payload)
            .arg(ownership.nonce.to_hex())
            .arg(unix_millis(ownership.booked_at))
            .arg(self.booking_expires_at(booking))
            .arg(retry_key_arg(ownership))
            .arg(RETRY_WINDOW_MS);
        let (reply, acked): (Vec<String>, _) =
            self.invoke_replicated("confirm", &invocation).await?;
        self.confirm_replicated(acked)?;
        if reply.first().map(String::as_str) == Some("claim_lost") {
            return Ok(None);
        }
        booking_outcome(id, &reply, "confirm script").map(Some)
    }

    /// Step 4, on the station's shard: the hold leaves the work list if its entry is still
    /// `score` (a cancel since then marked it anew, for the reconciler). Called only after
    /// what it rests on (confirm, or the reconciler's resolve) was replicated; itself it needs
    /// no replica: an entry a failover brings back is settled again.
    pub async fn settle(
        &self,
        location: &Location,
        person: &str,
        score: &str,
    ) -> Result<(), StoreError> {
        let mut connection = self.reconnecting();
        store_call(
            "settle",
            SETTLE
                .key(unsettled_key(location))
                .arg(person)
                .arg(score)
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
        .map_err(unavailable)
    }

    /// On the station's shard: gives the hold's slot back if the person's hold is still
    /// `hold_id`; true when it did. Called only after what it rests on was replicated (the
    /// claim's loss, a cancel's removal of the booking, with the cancel's mark); a release a
    /// failover loses leaves the hold and its work-list entry, so the reconciler releases it
    /// again. Its own WAIT still runs, so a hold taken after it covers it.
    pub async fn release(
        &self,
        location: &Location,
        person: &str,
        hold_id: &str,
    ) -> Result<bool, StoreError> {
        let mut invocation = RELEASE.prepare_invoke();
        station_keys(&mut invocation, location)
            .arg(person)
            .arg(hold_id);
        let (released, _): (i64, _) = self.invoke_replicated("release", &invocation).await?;
        Ok(released == 1)
    }

    /// On the person's shard: what became of the person's side of hold `hold_id`; a claim
    /// older than the TTL is deleted here, in the same step that decides. The answer stands
    /// only once the replicas have what it was read from (the script writes the fence): a hold
    /// is never settled for a booking, or released for a cancel, that a failover could undo.
    pub async fn resolve(
        &self,
        id: &MySejahteraId,
        hold_id: &str,
    ) -> Result<Resolution, StoreError> {
        let mut invocation = RESOLVE.prepare_invoke();
        claim_keys(&mut invocation, id)
            .key(fence_key(&claim_key(id)))
            .arg(hold_id)
            .arg(self.now_ms())
            .arg(self.claim_ttl_ms());
        let (said, acked): (String, _) = self.invoke_replicated("resolve", &invocation).await?;
        self.confirm_replicated(acked)?;
        match said.as_str() {
            "booked" => Ok(Resolution::Booked),
            "in_flight" => Ok(Resolution::InFlight),
            "gone" => Ok(Resolution::Gone),
            other => Err(StoreError::UnexpectedReply(format!(
                "resolve script said {other:?}"
            ))),
        }
    }

    async fn drop_claim(&self, id: &MySejahteraId, hold_id: &str) -> Result<(), StoreError> {
        let mut connection = self.reconnecting();
        store_call(
            "drop_claim",
            DROP_CLAIM
                .key(claim_key(id))
                .arg(hold_id)
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
        .map_err(unavailable)
    }

    /// Step 2 with a stale hold of the same person resolved inline: only one claim per person
    /// lives at a time and it is this request's, so another holdId here belongs to an attempt
    /// that can no longer confirm (or to a booking being cancelled).
    async fn hold_resolving(&self, booking: &Booking, hold_id: &str) -> Result<Held, StoreError> {
        self.resolving_stale_holds(HoldStep::Booking { booking, hold_id })
            .await
    }

    /// Runs a hold step (a booking's, a move's), resolving a stale hold of the person it meets
    /// and trying once more.
    async fn resolving_stale_holds(&self, step: HoldStep<'_>) -> Result<Held, StoreError> {
        let target = match step {
            HoldStep::Booking { booking, .. } => booking,
            HoldStep::WithinStation { to, .. } => to,
        };
        let (id, location) = (&target.mysejahtera_id, &target.location);
        for _ in 0..2 {
            let held = match step {
                HoldStep::Booking { booking, hold_id } => self.hold(booking, hold_id).await?,
                HoldStep::WithinStation {
                    from,
                    from_hold,
                    to,
                    hold_id,
                } => self.hold_move(from, from_hold, to, hold_id).await?,
            };
            let Held::Stale { holder } = &held else {
                return Ok(held);
            };
            let stale = hold_of(holder);
            match self.resolve(id, stale).await? {
                Resolution::Gone => {
                    self.release(location, id.as_str(), stale).await?;
                }
                Resolution::Booked | Resolution::InFlight => {
                    return Err(retry_later("an earlier booking of this person is settling"));
                }
            }
        }
        Err(retry_later("an earlier hold of this person is settling"))
    }

    pub(super) async fn book_in_steps(
        &self,
        booking: &Booking,
        event: &EventRecord,
        ownership: &BookingOwnership,
    ) -> Result<BookingOutcome, StoreError> {
        let id = &booking.mysejahtera_id;
        let hold_id = match self.claim(booking).await? {
            Claimed::Claim { hold_id } => hold_id,
            Claimed::Decided(outcome) => return Ok(outcome),
        };
        let score = match self.hold_resolving(booking, &hold_id).await? {
            Held::Held { score } => score,
            Held::Refused(outcome) => {
                // Let the person try elsewhere at once; left alone, the claim just expires.
                if let Err(error) = self.drop_claim(id, &hold_id).await {
                    tracing::warn!(%error, "claim of a refused booking left to expire");
                }
                return Ok(outcome);
            }
            Held::Stale { .. } => unreachable!("hold_resolving never returns a stale hold"),
        };
        let Some(outcome) = self.confirm(booking, event, ownership, &hold_id).await? else {
            self.release(&booking.location, id.as_str(), &hold_id)
                .await?;
            return Err(retry_later(
                "the booking attempt expired before it was confirmed",
            ));
        };
        if let Err(error) = self.settle(&booking.location, id.as_str(), &score).await {
            tracing::warn!(%error, "booking left for the reconciler to settle");
        }
        Ok(outcome)
    }

    /// Move step 1, on the person's shard: claims the person for moving `from` (as read, under
    /// `nonce`) to `to`. Like a booking's claim it needs no replica: if a failover loses it,
    /// the move's confirm finds it gone and the move answers 503.
    pub async fn claim_move(
        &self,
        from: &Booking,
        nonce: &ReferenceNonce,
        to: &Booking,
    ) -> Result<MoveClaimed, StoreError> {
        let id = &from.mysejahtera_id;
        let mut invocation = CLAIM_MOVE.prepare_invoke();
        claim_keys(&mut invocation, id)
            .arg(nonce.to_hex())
            .arg(from.location.as_str())
            .arg(from.date.to_string())
            .arg(new_hold_id())
            .arg(to.location.as_str())
            .arg(to.date.to_string())
            .arg(to.to_json())
            .arg(self.claim_ttl_ms())
            .arg(self.now_ms());
        let mut connection = self.reconnecting();
        let reply: Option<Vec<String>> =
            store_call("claim_move", invocation.invoke_async(&mut connection))
                .await
                .map_err(unavailable)?;
        match reply.unwrap_or_default().as_slice() {
            [outcome, hold_id, from_hold] if outcome == "claimed" => Ok(MoveClaimed::Claim {
                hold_id: hold_id.clone(),
                from_hold: from_hold.clone(),
            }),
            other => Ok(MoveClaimed::Decided(other.to_vec())),
        }
    }

    /// Move step 2 within one station (another date), on its shard: the new date's slot for
    /// `hold_id`, with the booking's hold `from_hold` parked (see hold_move.lua). Goes on to
    /// confirm only once the replicas have it, as a booking's hold.
    pub async fn hold_move(
        &self,
        from: &Booking,
        from_hold: &str,
        to: &Booking,
        hold_id: &str,
    ) -> Result<Held, StoreError> {
        let mut invocation = HOLD_MOVE.prepare_invoke();
        station_keys(&mut invocation, &to.location)
            .arg(to.mysejahtera_id.as_str())
            .arg(from_hold)
            .arg(from.date.to_string())
            .arg(hold_id)
            .arg(to.date.to_string())
            .arg(self.now_ms());
        let (reply, acked): (Vec<String>, _) =
            self.invoke_replicated("hold_move", &invocation).await?;
        match reply.as_slice() {
            [outcome, score] if outcome == "held" => {
                self.confirm_replicated(acked)?;
                Ok(Held::Held {
                    score: score.clone(),
                })
            }
            [outcome, holder] if outcome == "stale_hold" => Ok(Held::Stale {
                holder: holder.clone(),
            }),
            _ => booking_outcome(&to.mysejahtera_id, &reply, "hold_move script").map(Held::Refused),
        }
    }

    /// Move step 3, on the person's shard: confirm_move.lua's reply (`[moved, stream entry id,
    /// sequence]`, `[already_moved]` or `[claim_lost]`), acted on only once replicated: the
    /// 200, and the old slot's release, rest on it.
    pub async fn confirm_move(
        &self,
        from: &Booking,
        from_hold: &str,
        nonce: &ReferenceNonce,
        to: &Booking,
        event: &EventRecord,
        hold_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let id = &from.mysejahtera_id;
        let mut invocation = CONFIRM_MOVE.prepare_invoke();
        confirm_keys(&mut invocation, id)
            .arg(hold_id)
            .arg(from_hold)
            .arg(nonce.to_hex())
            .arg(from.location.as_str())
            .arg(from.date.to_string())
            .arg(to.to_json())
            .arg(id.as_str())
            .arg(&event.payload)
            .arg(self.booking_expires_at(to));
        let (reply, acked): (Vec<String>, _) =
            self.invoke_replicated("confirm_move", &invocation).await?;
        self.confirm_replicated(acked)?;
        Ok(reply)
    }

    /// Move step 5 within one station: gives the parked hold's slot back once the move is
    /// confirmed (and replicated); true when it did. Its own WAIT still runs, so a hold taken
    /// after it covers it.
    pub async fn release_parked(
        &self,
        location: &Location,
        person: &str,
        from_hold: &str,
    ) -> Result<bool, StoreError> {
        let mut invocation = RELEASE_PARKED.prepare_invoke();
        station_keys(&mut invocation, location)
            .arg(person)
            .arg(from_hold);
        let (released, _): (i64, _) = self
            .invoke_replicated("release_parked", &invocation)
            .await?;
        Ok(released == 1)
    }

    /// Move on a cluster: (1) claim the person for the move, (2) hold the new slot (within one
    /// station: the booking's hold parked beside it), (3, between two stations) mark the
    /// person on the old station's work list, (4) confirm on the person's shard: the booking
    /// at its new slot and its event, (5) give the old slot back, (6) settle the new hold.
    /// The new hold comes before the old slot is released, and each step goes on only once
    /// the replicas have the one before, so a person is never left without a slot nor holds
    /// two once the reconciler ran: a stop before (4) leaves the booking where it was (the
    /// reconciler gives the new hold back), a stop after it leaves the old slot to the
    /// reconciler (by the mark, or the parked hold). The reply reads as move.lua's, plus
    /// `[already_moved]` for a move confirmed by an earlier try.
    pub(super) async fn move_in_steps(
        &self,
        from: &Booking,
        nonce: &ReferenceNonce,
        to: &Booking,
        event: &EventRecord,
    ) -> Result<Vec<String>, StoreError> {
        let id = &from.mysejahtera_id;
        let person = id.as_str();
        let (hold_id, from_hold) = match self.claim_move(from, nonce, to).await? {
            MoveClaimed::Claim { hold_id, from_hold } => (hold_id, from_hold),
            MoveClaimed::Decided(reply) => return Ok(reply),
        };
        let within_station = from.location == to.location;
        let held = if within_station {
            self.resolving_stale_holds(HoldStep::WithinStation {
                from,
                from_hold: &from_hold,
                to,
                hold_id: &hold_id,
            })
            .await?
        } else {
            self.hold_resolving(to, &hold_id).await?
        };
        let score = match held {
            Held::Held { score } => score,
            Held::Refused(outcome) => {
                if let Err(error) = self.drop_claim(id, &hold_id).await {
                    tracing::warn!(%error, "claim of a refused move left to expire");
                }
                return Ok(vec![refusal_code(&outcome).to_owned()]);
            }
            Held::Stale { .. } => unreachable!("resolving_stale_holds never returns a stale hold"),
        };
        let mark = if within_station {
            None
        } else {
            Some(self.mark_for_cancel(&from.location, person).await?)
        };
        let reply = self
            .confirm_move(from, &from_hold, nonce, to, event, &hold_id)
            .await?;
        if reply.first().map(String::as_str) == Some("claim_lost") {
            self.release(&to.location, person, &hold_id).await?;
            if let Some(mark) = mark.filter(|mark| mark.new) {
                self.settle(&from.location, person, &mark.score).await?;
            }
            return Err(retry_later("the move expired before it was confirmed"));
        }
        // The move stands; an old slot not given back here is the reconciler's.
        let freed = if within_station {
            self.release_parked(&from.location, person, &from_hold)
                .await
        } else {
            self.release(&from.location, person, &from_hold).await
        };
        if let Err(error) = freed {
            tracing::warn!(%error, "moved booking's old slot left for the reconciler");
        }
        if let Err(error) = self.settle(&to.location, person, &score).await {
            tracing::warn!(%error, "moved booking left for the reconciler to settle");
        }
        Ok(reply)
    }

    /// Cancel on a cluster: (a) mark the person on the station's work list, (b) remove the
    /// booking and write its event on the person's shard, (c) give the slot back. Each step
    /// goes on only once the replicas have the one before: the mark before the booking goes
    /// (so a cancel that stops, or whose later steps a failover loses, leaves the reconciler
    /// its work), the removal before the slot is given back and before the 200. The reply is
    /// cancel_person.lua's, replicated when it removed the booking.
    pub(super) async fn cancel_in_steps(
        &self,
        id: &MySejahteraId,
        booking: &Booking,
        stamp: &EventStamp,
        nonce: &ReferenceNonce,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mark = self.mark_for_cancel(&booking.location, id.as_str()).await?;
        let (reply, acked) = self.remove_booking(id, booking, stamp, nonce).await?;
        let Some([_, _, _, hold_id]) = reply.as_deref() else {
            // Nothing was cancelled (another nonce, or the booking moved): a new entry goes
            // again; a renewed one is left to the reconciler, which finds what it is for.
            if mark.new {
                self.settle(&booking.location, id.as_str(), &mark.score)
                    .await?;
            }
            return Ok(reply);
        };
        self.confirm_replicated(acked)?;
        // The cancel stands; a slot not given back here is the reconciler's, by (a)'s mark.
        if let Err(error) = self.release(&booking.location, id.as_str(), hold_id).await {
            tracing::warn!(%error, "cancelled booking's slot left for the reconciler");
        }
        Ok(reply)
    }

    /// Cancel step (a), on the station's shard: puts the person on the work list under a new
    /// score (see mark_for_cancel.lua), replicated before the cancel goes on.
    pub async fn mark_for_cancel(
        &self,
        location: &Location,
        person: &str,
    ) -> Result<CancelMark, StoreError> {
        let mut invocation = MARK_FOR_CANCEL.prepare_invoke();
        invocation
            .key(unsettled_key(location))
            .arg(person)
            .arg(self.now_ms());
        let (reply, acked): (Vec<String>, _) =
            self.invoke_replicated("cancel_mark", &invocation).await?;
        self.confirm_replicated(acked)?;
        match reply.as_slice() {
            [score, added] => Ok(CancelMark {
                score: score.clone(),
                new: added == "new",
            }),
            other => Err(StoreError::UnexpectedReply(format!(
                "cancel mark script said {other:?}"
            ))),
        }
    }

    /// Cancel step (b), on the person's shard: cancel_person.lua's reply (`[booking JSON,
    /// stream entry id, sequence, holdId]`, nil, or `[moved]`) and the replicas that
    /// acknowledged it (the caller confirms them before it goes on).
    pub async fn remove_booking(
        &self,
        id: &MySejahteraId,
        booking: &Booking,
        stamp: &EventStamp,
        nonce: &ReferenceNonce,
    ) -> Result<(Option<Vec<String>>, Option<u32>), StoreError> {
        let mut invocation = CANCEL_PERSON.prepare_invoke();
        invocation
            .key(booking_key(id))
            .key(booking_owner_key(id))
            .key(event_sequence_key(id))
            .key(person_outbox_key(id))
            .arg(booking.location.as_str())
            .arg(booking.date.to_string())
            .arg(&stamp.event_id)
            .arg(&stamp.occurred_at)
            .arg(id.as_str())
            .arg(nonce.to_hex());
        self.invoke_replicated("cancel", &invocation).await
    }

    /// Resolves up to one batch of the station's work-list entries older than the claim TTL.
    pub async fn reconcile_station(&self, location: &Location) -> Result<Reconciled, StoreError> {
        let mut report = Reconciled::default();
        let cutoff = self.now_ms().saturating_sub(self.claim_ttl_ms());
        let mut connection = self.reconnecting();
        let entries: Vec<(String, String)> = store_call(
            "reconcile_read",
            redis::cmd("ZRANGE")
                .arg(unsettled_key(location))
                .arg("-inf")
                .arg(cutoff)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(RECONCILE_BATCH)
                .arg("WITHSCORES")
                .query_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        for (person, score) in entries {
            let holder: Option<String> = store_call(
                "reconcile_holder",
                connection.hget(holders_key(location), &person),
            )
            .await
            .map_err(unavailable)?;
            let Some(holder) = holder else {
                let forgotten: i64 = store_call(
                    "reconcile_forget",
                    FORGET_UNSETTLED
                        .key(holders_key(location))
                        .key(unsettled_key(location))
                        .arg(&person)
                        .arg(&score)
                        .invoke_async(&mut connection),
                )
                .await
                .map_err(unavailable)?;
                report.forgotten += u64::try_from(forgotten).unwrap_or(0);
                continue;
            };
            let id = MySejahteraId::stored_key(&person).map_err(|e| {
                StoreError::UnexpectedReply(format!("{}: {e}", unsettled_key(location)))
            })?;
            let hold_id = hold_of(&holder);
            // A move within the station in flight: the booking's hold parked beside this one.
            let parked: Option<String> = store_call(
                "reconcile_parked",
                connection.hget(moving_key(location), &person),
            )
            .await
            .map_err(unavailable)?;
            let resolution = self.resolve(&id, hold_id).await?;
            match (resolution, parked.as_deref()) {
                (Resolution::Booked, parked) => {
                    // The move was confirmed: its old slot goes back.
                    if let Some(parked) = parked
                        && self
                            .release_parked(location, &person, hold_of(parked))
                            .await?
                    {
                        report.released += 1;
                    }
                    self.settle(location, &person, &score).await?;
                    report.settled += 1;
                }
                (Resolution::InFlight, _) => report.in_flight += 1,
                (Resolution::Gone, parked) => {
                    if self.release(location, &person, hold_id).await? {
                        report.released += 1;
                    }
                    // A move that will not happen: the booking's hold is its hold again, and
                    // is decided like any other.
                    if let Some(parked) = parked {
                        let parked = hold_of(parked);
                        match self.resolve(&id, parked).await? {
                            Resolution::Booked => {
                                self.settle(location, &person, &score).await?;
                                report.settled += 1;
                            }
                            Resolution::InFlight => report.in_flight += 1,
                            Resolution::Gone => {
                                if self.release(location, &person, parked).await? {
                                    report.released += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// Resolves every station's work list (entries older than the claim TTL), stopping before
    /// `deadline`. Safe beside requests and beside another reconciler: each decision is one
    /// script on one shard, and every step checks the holdId it acts for.
    pub async fn reconcile(&self, deadline: Option<Instant>) -> Result<Reconciled, StoreError> {
        let mut connection = self.reconnecting();
        let members: Vec<String> = store_call("stations", connection.smembers(STATIONS_KEY))
            .await
            .map_err(unavailable)?;
        let mut total = Reconciled::default();
        for member in members {
            let location = Location::parse(&member)
                .map_err(|e| StoreError::UnexpectedReply(format!("{STATIONS_KEY}: {e}")))?;
            loop {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    total.deadline_reached = true;
                    return Ok(total);
                }
                let round = self.reconcile_station(&location).await?;
                total.settled += round.settled;
                total.released += round.released;
                total.in_flight += round.in_flight;
                total.forgotten += round.forgotten;
                let done = round.settled + round.released + round.forgotten;
                if done < RECONCILE_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(total)
    }
}
