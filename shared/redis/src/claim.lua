-- Cluster protocol, step 1, on the person's shard: claims the person for one booking attempt.
-- KEYS[1] booking:{p:NNN}:id   KEYS[2] booking-owner:{p:NNN}:id   KEYS[3] claim:{p:NNN}:id
-- KEYS[4] booking-retry:{p:NNN}:id
-- ARGV[1] the booking's canonical JSON   ARGV[2] a new holdId   ARGV[3] location
-- ARGV[4] date   ARGV[5] the claim's TTL (ms)   ARGV[6] now (Unix ms)
-- ARGV[7] what slot_refusal.lua read on the station's shard just before: '' or its refusal
-- Returns {'claimed', holdId} (a live claim for the same booking is reused: a retry continues
-- the same attempt, whose own hold may have taken the date's last slot), {'in_progress'} (a
-- claim for another booking), the station's refusal, or what book.lua returns for a person who
-- already holds a booking. The order is book.lua's (issue 23): what only the identical request
-- can ask (its booking, its attempt), then the station's refusal, then the person's state, so
-- an unknown or full date answers the same whether or not the ID holds a booking.
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('SET', KEYS[1], held, 'KEEPTTL')
  local owner = redis.call('HMGET', KEYS[2], 'nonce', 'bookedAt')
  return {'already_held', owner[1] or '', owner[2] or '', redis.call('GET', KEYS[4]) or ''}
end
-- A claim older than its TTL by the callers' clock is over, even before Redis expires it (the
-- reconciler judges by the same clock).
local claim = redis.call('HMGET', KEYS[3], 'holdId', 'booking', 'startedAt')
local live = claim[1] and tonumber(ARGV[6]) - tonumber(claim[3] or '0') < tonumber(ARGV[5])
if live and not held and claim[2] == ARGV[1] then
  return {'claimed', claim[1]}
end
if ARGV[7] ~= '' then
  return {ARGV[7]}
end
if held then
  return {'already_booked'}
end
if live then
  return {'in_progress'}
end
redis.call('HSET', KEYS[3], 'holdId', ARGV[2], 'location', ARGV[3], 'date', ARGV[4],
  'booking', ARGV[1], 'startedAt', ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return {'claimed', ARGV[2]}
