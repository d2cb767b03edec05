-- Moves one booking to another slot atomically (single Redis): takes a slot of the new date,
-- gives the old one back, rewrites the booking and appends its booking.rescheduled event, or
-- changes nothing (take_slot.lua, give_back_slot.lua and record_move.lua are prepended, with
-- the `#!lua` line).
-- KEYS[1] booking:{p:NNN}:id   KEYS[2] booking-owner:{p:NNN}:id   KEYS[3] event-seq:{p:NNN}:id
-- KEYS[4] outbox:{p:NNN}
-- KEYS[5] slots:{old}   KEYS[6] capacity:{old}   KEYS[7] held:{old}   KEYS[8] holders:{old}
-- KEYS[9] unsettled:{old}: of the station the caller read from the booking
-- KEYS[10] slots:{new}   KEYS[11] capacity:{new}   KEYS[12] held:{new}   KEYS[13] holders:{new}
-- ARGV[1] old location   ARGV[2] old date: what the caller read; the booking must still name them
-- ARGV[3] the nonce the caller's reference was verified against   ARGV[4] person ID
-- ARGV[5] new date   ARGV[6] the booking's canonical JSON at the new slot
-- ARGV[7] event JSON, an object without "sequence"   ARGV[8] a new holdId
-- ARGV[9] when the booking's records expire (Unix seconds): the new date + retention
-- Returns {'moved', outbox id, sequence}; false when the person holds no booking under the
-- nonce; {'changed'} when it no longer names the old slot (the caller reads it again); or a
-- refusal from take_slot.
local held = redis.call('GET', KEYS[1])
if not held then
  return false
end
-- Ownership guard, as for a cancel: only the booking whose reference was checked moves.
if redis.call('HGET', KEYS[2], 'nonce') ~= ARGV[3] then
  return false
end
local decoded = cjson.decode(held)
if decoded.location ~= ARGV[1] or decoded.date ~= ARGV[2] then
  return {'changed'}
end
-- The new slot first: refused, nothing has changed yet.
local refused = take_slot(KEYS[10], KEYS[12], KEYS[11], ARGV[5])
if refused then
  return {refused}
end
give_back_slot(KEYS[5], KEYS[6], KEYS[7], ARGV[2])
redis.call('HDEL', KEYS[8], ARGV[4])
redis.call('ZREM', KEYS[9], ARGV[4])
redis.call('HSET', KEYS[13], ARGV[4], ARGV[8] .. '|' .. ARGV[5])
local outbox_id, sequence = record_move(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[6], ARGV[4],
  ARGV[7], ARGV[8], ARGV[9])
return {'moved', outbox_id, tostring(sequence)}
