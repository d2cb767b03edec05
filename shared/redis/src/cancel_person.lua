-- Cluster cancel, step (b), on the person's shard: removes the booking and appends its
-- booking.cancelled event (remove_booking.lua is prepended). The station's side follows
-- (release.lua), or the reconciler does it.
-- KEYS[1] booking:{p:NNN}:id   KEYS[2] booking-owner:{p:NNN}:id   KEYS[3] event-seq:{p:NNN}:id
-- KEYS[4] outbox:{p:NNN}
-- ARGV as cancel.lua's: location, date, event id, occurredAt, person ID, nonce.
return remove_booking(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[5], ARGV[6])
