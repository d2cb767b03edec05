-- Cluster move, step 3, on the person's shard: while the claim is still this move's and the
-- booking still the one it moves, rewrites the booking at its new slot (nonce and bookedAt
-- stay, so does the reference; the hold is the new one) and appends its booking.rescheduled
-- event (record_move.lua is prepended).
-- KEYS[1] booking:{p:NNN}:id   KEYS[2] booking-owner:{p:NNN}:id   KEYS[3] claim:{p:NNN}:id
-- KEYS[4] event-seq:{p:NNN}:id   KEYS[5] outbox:{p:NNN}   KEYS[6] fence:{p:NNN}
-- ARGV[1] the move's holdId   ARGV[2] the booking's holdId before the move   ARGV[3] nonce
-- ARGV[4] old location   ARGV[5] old date   ARGV[6] the booking's JSON at the new slot
-- ARGV[7] person ID   ARGV[8] event JSON (no sequence)   ARGV[9] records expire at (Unix s)
-- Returns {'moved', outbox id, sequence}; {'already_moved'} when this move was confirmed
-- before (a repeated step); {'claim_lost'} when the claim expired, was resolved away, or the
-- booking changed (cancelled): the caller gives the new hold back and answers 503.
-- The caller acts on every answer only once the WAIT after it was acknowledged, so the answers
-- that write nothing else write the booking again or the fence.
local function lost()
  redis.call('SET', KEYS[6], '1')
  return {'claim_lost'}
end
local held = redis.call('GET', KEYS[1])
local owner = redis.call('HMGET', KEYS[2], 'nonce', 'holdId')
if redis.call('HGET', KEYS[3], 'holdId') ~= ARGV[1] then
  if held and owner[2] == ARGV[1] then
    redis.call('SET', KEYS[1], held, 'KEEPTTL')
    return {'already_moved'}
  end
  return lost()
end
if not held or owner[1] ~= ARGV[3] or owner[2] ~= ARGV[2] then
  redis.call('DEL', KEYS[3])
  return lost()
end
local decoded = cjson.decode(held)
if decoded.location ~= ARGV[4] or decoded.date ~= ARGV[5] then
  redis.call('DEL', KEYS[3])
  return lost()
end
local outbox_id, sequence = record_move(KEYS[1], KEYS[2], KEYS[4], KEYS[5], ARGV[6], ARGV[7],
  ARGV[8], ARGV[1], ARGV[9])
redis.call('DEL', KEYS[3])
return {'moved', outbox_id, tostring(sequence)}
