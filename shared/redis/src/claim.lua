-- Cluster protocol, step 1, on the person's shard: claims the person for one booking attempt.
-- KEYS[1] booking:{p:NNN}:id   KEYS[2] booking-owner:{p:NNN}:id   KEYS[3] claim:{p:NNN}:id
-- ARGV[1] the booking's canonical JSON   ARGV[2] a new holdId   ARGV[3] location
-- ARGV[4] date   ARGV[5] the claim's TTL (ms)   ARGV[6] now (Unix ms)
-- Returns {'claimed', holdId} (a live claim for the same booking is reused: a retry continues
-- the same attempt), {'in_progress'} (a claim for another booking), or what book.lua returns
-- for a person who already holds a booking.
local held = redis.call('GET', KEYS[1])
if held then
  if held == ARGV[1] then
    redis.call('SET', KEYS[1], held, 'KEEPTTL')
    local owner = redis.call('HMGET', KEYS[2], 'nonce', 'bookedAt')
    return {'already_held', owner[1] or '', owner[2] or ''}
  end
  return {'already_booked'}
end
-- A claim older than its TTL by the callers' clock is over, even before Redis expires it (the
-- reconciler judges by the same clock).
local claim = redis.call('HMGET', KEYS[3], 'holdId', 'booking', 'startedAt')
if claim[1] and tonumber(ARGV[6]) - tonumber(claim[3] or '0') < tonumber(ARGV[5]) then
  if claim[2] == ARGV[1] then
    return {'claimed', claim[1]}
  end
  return {'in_progress'}
end
redis.call('HSET', KEYS[3], 'holdId', ARGV[2], 'location', ARGV[3], 'date', ARGV[4],
  'booking', ARGV[1], 'startedAt', ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return {'claimed', ARGV[2]}
