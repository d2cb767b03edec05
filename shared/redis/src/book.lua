-- Books one slot and records its event atomically (single Redis: one round trip; see
-- take_slot.lua and record_booking.lua, prepended to this script). Redis checks memory once
-- before the script runs (the `#!lua` line the Rust side prepends), so it runs whole or not.
-- KEYS[1] slots:{location}   hash date -> remaining slots
-- KEYS[2] booking:{p:NNN}:id the person's one booking (canonical JSON)
-- KEYS[3] outbox:{p:NNN}     the person's bucket's outbox stream
-- KEYS[4] booking-owner:{p:NNN}:id hash nonce, bookedAt, holdId: what the reference is derived from
-- KEYS[5] held:{location}    hash date -> bookings held
-- KEYS[6] capacity:{location} hash date -> daily capacity
-- KEYS[7] event-seq:{p:NNN}:id the person's event sequence (see record_booking.lua)
-- KEYS[8] holders:{location} hash person ID -> holdId|date (kept as the cluster protocol does)
-- KEYS[9] booking-retry:{p:NNN}:id the keyed digest of the booking's Idempotency-Key
-- ARGV[1] date (YYYYMMDD)    ARGV[2] the booking's canonical JSON
-- ARGV[3] event key (the person's ID)   ARGV[4] event JSON, an object without "sequence"
-- ARGV[5] the new booking's nonce (hex)   ARGV[6] booking time (Unix ms)
-- ARGV[7] when the booking's records expire (Unix seconds): its date + BOOKING_RETENTION_DAYS
-- ARGV[8] the hold's id: recorded in holders and in the owner record, as on a cluster
-- ARGV[9] the Idempotency-Key's digest, or ''   ARGV[10] the retry window (ms)
local held = redis.call('GET', KEYS[2])
if held == ARGV[2] then
  -- Durability (issue 11): rewrite the same bytes so this retry has a write of its own; the
  -- WAIT after it (REDIS_WAIT_REPLICAS) then also confirms the original booking replicated,
  -- whichever connection wrote it.
  redis.call('SET', KEYS[2], held, 'KEEPTTL')
  -- The stored nonce, time and key digest let the retry show the same reference within its
  -- window, to the client that made the booking.
  local owner = redis.call('HMGET', KEYS[4], 'nonce', 'bookedAt')
  return {'already_held', owner[1] or '', owner[2] or '', redis.call('GET', KEYS[9]) or ''}
end
-- The station and date before the person (issue 23): an unknown or full one answers the same
-- whether or not the ID holds a booking.
local refused = slot_refusal(KEYS[1], KEYS[5], KEYS[6], ARGV[1])
if refused then
  return {refused}
end
if held then
  return {'already_booked'}
end
refused = take_slot(KEYS[1], KEYS[5], KEYS[6], ARGV[1])
if refused then
  return {refused}
end
redis.call('HSET', KEYS[8], ARGV[3], ARGV[8] .. '|' .. ARGV[1])
local outbox_id, sequence = record_booking(KEYS[2], KEYS[4], KEYS[7], KEYS[3], KEYS[9], ARGV[2],
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
return {'created', outbox_id, tostring(sequence)}
