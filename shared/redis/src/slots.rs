//! Slots and bookings on Redis: the [`StationReads`], [`BookingStore`], [`SeedStore`] and
//! [`HealthCheck`] ports. On a single Redis each booking and
//! cancel is one script; on a cluster they run the claim protocol ([`crate::protocol`]).
use super::*;

pub(crate) static BOOK: LazyLock<Script> =
    composed_script!("take_slot.lua", "record_booking.lua", "book.lua");
pub(crate) static SEED: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("seed.lua")));
pub(crate) static CANCEL: LazyLock<Script> =
    composed_script!("remove_booking.lua", "give_back_slot.lua", "cancel.lua");

pub(crate) static MOVE: LazyLock<Script> = composed_script!(
    "take_slot.lua",
    "give_back_slot.lua",
    "record_move.lua",
    "move.lua"
);

/// How often a cancel or a move reads the booking again when it changed between the read and
/// the script.
pub(crate) const CANCEL_ATTEMPTS: usize = 3;

pub(crate) fn parse_sequence(reply: &str) -> Result<u64, StoreError> {
    reply
        .parse()
        .map_err(|_| StoreError::UnexpectedReply(format!("event sequence {reply:?}")))
}

/// The `booking-owner:{id}` fields back into an ownership; both absent means a booking stored
/// before references existed.
pub(crate) fn stored_ownership(
    nonce: Option<&str>,
    booked_at: Option<&str>,
) -> Result<Option<BookingOwnership>, StoreError> {
    let (nonce, booked_at) = match (nonce, booked_at) {
        (None | Some(""), None | Some("")) => return Ok(None),
        (Some(nonce), Some(booked_at)) => (nonce, booked_at),
        _ => {
            return Err(StoreError::UnexpectedReply(
                "booking owner record lacks nonce or bookedAt".into(),
            ));
        }
    };
    let nonce = ReferenceNonce::from_hex(nonce).ok_or_else(|| {
        StoreError::UnexpectedReply("booking owner record holds an invalid nonce".into())
    })?;
    let millis: u64 = booked_at.parse().map_err(|_| {
        StoreError::UnexpectedReply("booking owner record holds an invalid bookedAt".into())
    })?;
    Ok(Some(BookingOwnership {
        nonce,
        booked_at: SystemTime::UNIX_EPOCH + Duration::from_millis(millis),
        retry_key: None,
    }))
}

/// How long `booking-retry:` lives: the reference's retry window, the only time it is read.
pub(crate) const RETRY_WINDOW_MS: u64 = REFERENCE_RETRY_WINDOW.as_millis() as u64;

/// The digest a booking script stores in `booking-retry:`, or "" for a booking made without an
/// `Idempotency-Key`.
pub(crate) fn retry_key_arg(ownership: &BookingOwnership) -> String {
    ownership
        .retry_key
        .as_ref()
        .map_or_else(String::new, RetryKeyDigest::to_hex)
}

/// A station's hash (date -> remaining) as slots.
pub(crate) fn station_slots(
    location: &Location,
    raw: Vec<(String, i64)>,
) -> Result<Vec<Slot>, StoreError> {
    raw.into_iter()
        .map(|(date, remaining)| {
            let date = SlotDate::parse(&date)
                .map_err(|e| StoreError::UnexpectedReply(format!("{location}: {e}")))?;
            Ok(Slot {
                location: location.clone(),
                date,
                // A counter never goes below zero; clamp rather than fail a read if an
                // operator edited it by hand.
                availability: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            })
        })
        .collect()
}

/// A stored booking back into its value type, without re-applying today's field rules (see
/// `Booking::from_stored`); only this code writes them, so a failure means the data was edited
/// by hand.
pub(crate) fn stored_booking(json: &str) -> Result<Booking, StoreError> {
    // serde's message can quote the offending value (a name, a phone number): keep only
    // what kind of error and where, since this message reaches the logs.
    let request: BookingRequest = serde_json::from_str(json).map_err(|e| {
        StoreError::UnexpectedReply(format!(
            "stored booking: {:?} error at column {}",
            e.classify(),
            e.column()
        ))
    })?;
    Booking::from_stored(request)
        .map_err(|e| StoreError::UnexpectedReply(format!("stored booking: {e}")))
}

/// What a booking script (book.lua, claim.lua, confirm.lua) said, as an outcome; `created`
/// carries an entry of the person's outbox stream.
pub(crate) fn booking_outcome(
    id: &MySejahteraId,
    reply: &[String],
    script: &str,
) -> Result<BookingOutcome, StoreError> {
    match reply {
        [outcome, stream_id, sequence] if outcome == "created" => Ok(BookingOutcome::Created {
            outbox_id: outbox_entry_id(person_bucket(id), stream_id),
            sequence: parse_sequence(sequence)?,
        }),
        [outcome, nonce, booked_at, retry_key] if outcome == "already_held" => {
            let ownership = stored_ownership(Some(nonce), Some(booked_at))?;
            let retry_key = match retry_key.as_str() {
                "" => None,
                stored => Some(RetryKeyDigest::from_hex(stored).ok_or_else(|| {
                    StoreError::UnexpectedReply("booking retry key holds an invalid digest".into())
                })?),
            };
            Ok(BookingOutcome::AlreadyHeld {
                ownership: ownership.map(|ownership| BookingOwnership {
                    retry_key,
                    ..ownership
                }),
            })
        }
        [outcome] => match outcome.as_str() {
            "already_booked" => Ok(BookingOutcome::AlreadyBooked),
            "fully_booked" => Ok(BookingOutcome::FullyBooked),
            "unknown_station" => Ok(BookingOutcome::UnknownStation),
            "unknown_date" => Ok(BookingOutcome::UnknownDate),
            "in_progress" => Ok(BookingOutcome::InProgress),
            other => Err(StoreError::UnexpectedReply(format!(
                "{script} said {other:?}"
            ))),
        },
        other => Err(StoreError::UnexpectedReply(format!(
            "{script} said {other:?}"
        ))),
    }
}

impl RedisStore {
    /// `command` (`HGETALL`, `HVALS`) of every station's `slots:{L}`: one pipeline on a single
    /// Redis; on a cluster, where a pipeline goes to one node, one command per station, all sent
    /// at once (the client routes each to its shard).
    pub(crate) async fn per_station<T: FromRedisValue + Send + 'static>(
        &self,
        operation: &'static str,
        command: &'static str,
        locations: &[Location],
    ) -> Result<Vec<T>, StoreError> {
        if self.cluster {
            let reads = locations.iter().map(|location| {
                let mut connection = self.reconnecting();
                async move {
                    redis::cmd(command)
                        .arg(slots_key(location))
                        .query_async::<T>(&mut connection)
                        .await
                }
            });
            return store_call(operation, futures::future::try_join_all(reads))
                .await
                .map_err(unavailable);
        }
        let mut connection = self.reconnecting();
        let mut pipeline = redis::pipe();
        for location in locations {
            pipeline.cmd(command).arg(slots_key(location));
        }
        store_call(operation, pipeline.query_async(&mut connection))
            .await
            .map_err(unavailable)
    }
}

impl RedisStore {
    /// Cancel on a single Redis: one script removes the booking, gives its slot back and
    /// writes its event. The slot is free on the primary before the replicas acknowledge; a
    /// booking that takes it is confirmed only once its own WAIT covered this cancel too, so a
    /// failover never keeps that booking and undoes the cancel. The reply as cancel.lua's,
    /// replicated when it removed the booking.
    async fn cancel_at_once(
        &self,
        id: &MySejahteraId,
        booking: &Booking,
        stamp: &EventStamp,
        nonce: &ReferenceNonce,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut invocation = CANCEL.prepare_invoke();
        invocation
            .key(booking_key(id))
            .key(person_outbox_key(id))
            .key(booking_owner_key(id))
            .key(slots_key(&booking.location))
            .key(capacity_key(&booking.location))
            .key(held_key(&booking.location))
            .key(event_sequence_key(id))
            .key(holders_key(&booking.location))
            .key(unsettled_key(&booking.location))
            .arg(booking.location.as_str())
            .arg(booking.date.to_string())
            .arg(&stamp.event_id)
            .arg(&stamp.occurred_at)
            .arg(id.as_str())
            .arg(nonce.to_hex());
        let (reply, acked): (Option<Vec<String>>, _) =
            self.invoke_replicated("cancel", &invocation).await?;
        if matches!(reply.as_deref(), Some([_, _, _, _])) {
            self.confirm_replicated(acked)?;
        }
        Ok(reply)
    }
}

impl RedisStore {
    /// Move on a single Redis: one script takes the new slot, gives the old one back and
    /// writes the event. Confirmed only once replicated, like a booking: the new slot's WAIT
    /// covers the old slot's release too, which happened in the same script.
    async fn move_at_once(
        &self,
        id: &MySejahteraId,
        from: &Booking,
        nonce: &ReferenceNonce,
        to: &Booking,
        event: &EventRecord,
    ) -> Result<Vec<String>, StoreError> {
        let mut invocation = MOVE.prepare_invoke();
        invocation
            .key(booking_key(id))
            .key(booking_owner_key(id))
            .key(event_sequence_key(id))
            .key(person_outbox_key(id))
            .key(slots_key(&from.location))
            .key(capacity_key(&from.location))
            .key(held_key(&from.location))
            .key(holders_key(&from.location))
            .key(unsettled_key(&from.location))
            .key(slots_key(&to.location))
            .key(capacity_key(&to.location))
            .key(held_key(&to.location))
            .key(holders_key(&to.location))
            .arg(from.location.as_str())
            .arg(from.date.to_string())
            .arg(nonce.to_hex())
            .arg(id.as_str())
            .arg(to.date.to_string())
            .arg(to.to_json())
            .arg(&event.payload)
            .arg(protocol::new_hold_id())
            .arg(self.booking_expires_at(to));
        let (reply, acked): (Option<Vec<String>>, _) =
            self.invoke_replicated("move", &invocation).await?;
        let reply = reply.unwrap_or_default();
        if reply.first().map(String::as_str) == Some("moved") {
            self.confirm_replicated(acked)?;
        }
        Ok(reply)
    }
}

/// What a move script (move.lua, the cluster's steps) said, once it decided.
pub(crate) fn move_outcome(
    id: &MySejahteraId,
    reply: &[String],
    moved: Booking,
    from: BookedSlot,
    script: &str,
) -> Result<MoveOutcome, StoreError> {
    match reply {
        [] => Ok(MoveOutcome::NotBooked),
        [outcome, stream_id, sequence] if outcome == "moved" => Ok(MoveOutcome::Moved(Moved {
            booking: moved,
            from,
            outbox_id: outbox_entry_id(person_bucket(id), stream_id),
            sequence: parse_sequence(sequence)?,
        })),
        [outcome] => match outcome.as_str() {
            "fully_booked" => Ok(MoveOutcome::FullyBooked),
            "unknown_station" => Ok(MoveOutcome::UnknownStation),
            "unknown_date" => Ok(MoveOutcome::UnknownDate),
            "in_progress" => Ok(MoveOutcome::InProgress),
            // Confirmed by an earlier try of the same move (cluster): its event is in the
            // outbox already, for the relay.
            "already_moved" => Ok(MoveOutcome::AlreadyThere(moved)),
            other => Err(StoreError::UnexpectedReply(format!(
                "{script} said {other:?}"
            ))),
        },
        other => Err(StoreError::UnexpectedReply(format!(
            "{script} said {other:?}"
        ))),
    }
}

#[async_trait]
impl StationReads for RedisStore {
    async fn station_slots(&self, location: &Location) -> Result<Vec<Slot>, StoreError> {
        let mut connection = self.reconnecting();
        let raw: Vec<(String, i64)> =
            store_call("station_slots", connection.hgetall(slots_key(location)))
                .await
                .map_err(unavailable)?;
        station_slots(location, raw)
    }

    /// Two round trips whatever the number of stations: the `stations` set with the names and
    /// addresses (one hash slot, one atomic read), then every station's hash in one pipeline
    /// (on a cluster, one read per station, sent at once).
    async fn all_stations(&self) -> Result<AllStations, StoreError> {
        let mut connection = self.reconnecting();
        let (members, names, addresses): (
            Vec<String>,
            HashMap<String, String>,
            HashMap<String, String>,
        ) = store_call(
            "stations",
            redis::pipe()
                .atomic()
                .smembers(STATIONS_KEY)
                .hgetall(STATION_NAMES_KEY)
                .hgetall(STATION_ADDRESSES_KEY)
                .query_async(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        let locations = members
            .iter()
            .map(|member| {
                Location::parse(member)
                    .map_err(|e| StoreError::UnexpectedReply(format!("{STATIONS_KEY}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if locations.is_empty() {
            return Ok(AllStations::default());
        }
        let hashes: Vec<Vec<(String, i64)>> = self
            .per_station("all_station_slots", "HGETALL", &locations)
            .await?;
        let mut listing = AllStations::default();
        for (location, raw) in locations.iter().zip(hashes) {
            listing.slots.extend(station_slots(location, raw)?);
            let (name, address) = (
                names.get(location.as_str()),
                addresses.get(location.as_str()),
            );
            if name.is_some() || address.is_some() {
                // Written by the seed under these rules; anything else was edited by hand.
                let details =
                    StationDetails::parse(name.map(String::as_str), address.map(String::as_str))
                        .map_err(|e| {
                            StoreError::UnexpectedReply(format!("{location}'s details: {e}"))
                        })?;
                listing.details.insert(location.clone(), details);
            }
        }
        Ok(listing)
    }
}

#[async_trait]
impl BookingStore for RedisStore {
    async fn book(
        &self,
        booking: &Booking,
        event: &EventRecord,
        ownership: &BookingOwnership,
    ) -> Result<BookingOutcome, StoreError> {
        if self.cluster {
            return self.book_in_steps(booking, event, ownership).await;
        }
        let id = &booking.mysejahtera_id;
        let mut invocation = BOOK.prepare_invoke();
        invocation
            .key(slots_key(&booking.location))
            .key(booking_key(id))
            .key(person_outbox_key(id))
            .key(booking_owner_key(id))
            .key(held_key(&booking.location))
            .key(capacity_key(&booking.location))
            .key(event_sequence_key(id))
            .key(holders_key(&booking.location))
            .key(booking_retry_key(id))
            .arg(booking.date.to_string())
            .arg(booking.to_json())
            .arg(&event.key)
            .arg(&event.payload)
            .arg(ownership.nonce.to_hex())
            .arg(unix_millis(ownership.booked_at))
            .arg(self.booking_expires_at(booking))
            .arg(protocol::new_hold_id())
            .arg(retry_key_arg(ownership))
            .arg(RETRY_WINDOW_MS);
        // The one round trip a booking makes: its span and latency are the booking's cost.
        let (reply, acked): (Vec<String>, _) = self.invoke_replicated("book", &invocation).await?;
        if matches!(
            reply.first().map(String::as_str),
            Some("created" | "already_held")
        ) {
            self.confirm_replicated(acked)?;
        }
        booking_outcome(id, &reply, "booking script")
    }

    async fn find_booking(&self, id: &MySejahteraId) -> Result<Option<HeldBooking>, StoreError> {
        let mut connection = self.reconnecting();
        // MULTI/EXEC: the booking and its owner record as of one moment, in one round trip.
        let (stored, (nonce, booked_at)): (Option<String>, (Option<String>, Option<String>)) =
            store_call(
                "find_booking",
                redis::pipe()
                    .atomic()
                    .get(booking_key(id))
                    .hmget(booking_owner_key(id), &["nonce", "bookedAt"])
                    .query_async(&mut connection),
            )
            .await
            .map_err(unavailable)?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        Ok(Some(HeldBooking {
            booking: stored_booking(&stored)?,
            ownership: stored_ownership(nonce.as_deref(), booked_at.as_deref())?,
        }))
    }

    async fn cancel(
        &self,
        id: &MySejahteraId,
        stamp: &EventStamp,
        nonce: &ReferenceNonce,
    ) -> Result<Option<Cancelled>, StoreError> {
        // The script must declare the station's keys, known only from the booking: read it
        // first, then the script re-checks that it still names that station and date. A booking
        // that changed in between (cancelled and booked again elsewhere) is read again.
        for _ in 0..CANCEL_ATTEMPTS {
            let Some(HeldBooking { booking, .. }) = self.find_booking(id).await? else {
                return Ok(None);
            };
            let reply = if self.cluster {
                self.cancel_in_steps(id, &booking, stamp, nonce).await?
            } else {
                self.cancel_at_once(id, &booking, stamp, nonce).await?
            };
            match reply.as_deref() {
                None => return Ok(None),
                Some([moved]) if moved == "moved" => continue,
                Some([held, stream_id, sequence, _hold_id]) => {
                    return Ok(Some(Cancelled {
                        booking: stored_booking(held)?,
                        outbox_id: outbox_entry_id(person_bucket(id), stream_id),
                        sequence: parse_sequence(sequence)?,
                    }));
                }
                Some(other) => {
                    return Err(StoreError::UnexpectedReply(format!(
                        "cancel script said {other:?}"
                    )));
                }
            }
        }
        Err(StoreError::Unavailable(
            "the booking kept changing while it was being cancelled".into(),
        ))
    }

    async fn move_booking(
        &self,
        id: &MySejahteraId,
        nonce: &ReferenceNonce,
        to: &BookedSlot,
        stamp: &EventStamp,
    ) -> Result<MoveOutcome, StoreError> {
        // As for a cancel: the script must declare the old station's keys, known only from the
        // booking, and re-checks that the booking still names that slot.
        for _ in 0..CANCEL_ATTEMPTS {
            let Some(HeldBooking { booking, ownership }) = self.find_booking(id).await? else {
                return Ok(MoveOutcome::NotBooked);
            };
            if ownership.as_ref().map(|owner| &owner.nonce) != Some(nonce) {
                return Ok(MoveOutcome::NotBooked);
            }
            if booking.slot() == *to {
                return Ok(MoveOutcome::AlreadyThere(booking));
            }
            let moved = booking.moved_to(to);
            let event = BookingEvent::rescheduled(moved.clone(), booking.slot(), stamp.clone());
            let reply = if self.cluster {
                self.move_in_steps(&booking, nonce, &moved, &event.record())
                    .await?
            } else {
                self.move_at_once(id, &booking, nonce, &moved, &event.record())
                    .await?
            };
            if reply.first().map(String::as_str) == Some("changed") {
                continue;
            }
            return move_outcome(id, &reply, moved, booking.slot(), "move script");
        }
        Err(StoreError::Unavailable(
            "the booking kept changing while it was being moved".into(),
        ))
    }
}

#[async_trait]
impl SeedStore for RedisStore {
    async fn seed_station(
        &self,
        plan: &StationPlan,
        reset: bool,
    ) -> Result<StationSeeded, StoreError> {
        let mut connection = self.reconnecting();
        let mut invocation = SEED.prepare_invoke();
        invocation
            .key(slots_key(&plan.location))
            .key(capacity_key(&plan.location))
            .key(held_key(&plan.location))
            .arg(plan.location.as_str())
            .arg(plan.daily_capacity)
            .arg(if reset { "1" } else { "0" });
        for date in &plan.dates {
            invocation.arg(date.to_string());
        }
        let (dates_written, dates_skipped, dates_unmigrated): (u32, u32, u32) =
            store_call("seed_station", invocation.invoke_async(&mut connection))
                .await
                .map_err(unavailable)?;
        // Listed once its dates exist (a separate step: `stations` has its own hash slot), with
        // the details the plan gives; one left out keeps what was there.
        let mut listing = redis::pipe();
        listing
            .atomic()
            .sadd(STATIONS_KEY, plan.location.as_str())
            .ignore();
        if let Some(name) = &plan.details.name {
            listing
                .hset(STATION_NAMES_KEY, plan.location.as_str(), name)
                .ignore();
        }
        if let Some(address) = &plan.details.address {
            listing
                .hset(STATION_ADDRESSES_KEY, plan.location.as_str(), address)
                .ignore();
        }
        store_call(
            "seed_station_list",
            listing.query_async::<()>(&mut connection),
        )
        .await
        .map_err(unavailable)?;
        Ok(StationSeeded {
            dates_written,
            dates_skipped,
            dates_unmigrated,
        })
    }

    async fn migrate_held_counts(&self) -> Result<HeldMigrated, StoreError> {
        self.count_held_bookings().await
    }
}

#[async_trait]
impl HealthCheck for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.reconnecting();
        store_call(
            "ping",
            redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await
        .map(drop)
        .map_err(unavailable)
    }
}
