-- Cluster move, step 1, on the person's shard: claims the person for one move of their booking.
-- KEYS[1] booking:{p:NNN}:id   KEYS[2] booking-owner:{p:NNN}:id   KEYS[3] claim:{p:NNN}:id
-- ARGV[1] the nonce the caller's reference was verified against   ARGV[2] old location
-- ARGV[3] old date: what the caller read   ARGV[4] a new holdId   ARGV[5] new location
-- ARGV[6] new date   ARGV[7] the booking's canonical JSON at the new slot
-- ARGV[8] the claim's TTL (ms)   ARGV[9] now (Unix ms)
-- Returns {'claimed', holdId, the booking's holdId} (a live claim for the same move is reused:
-- a retry continues the same attempt), {'in_progress'} (a live claim for anything else),
-- {'changed'} (the booking no longer names the old slot: the caller reads it again), or false
-- (no booking under the nonce). The claim keeps the move under `move`, not `booking`, so a
-- booking request (claim.lua) never mistakes it for its own.
local held = redis.call('GET', KEYS[1])
if not held then
  return false
end
local owner = redis.call('HMGET', KEYS[2], 'nonce', 'holdId')
if owner[1] ~= ARGV[1] then
  return false
end
local decoded = cjson.decode(held)
if decoded.location ~= ARGV[2] or decoded.date ~= ARGV[3] then
  return {'changed'}
end
local claim = redis.call('HMGET', KEYS[3], 'holdId', 'move', 'startedAt', 'fromHold')
if claim[1] and tonumber(ARGV[9]) - tonumber(claim[3] or '0') < tonumber(ARGV[8]) then
  if claim[2] == ARGV[7] and claim[4] == owner[2] then
    return {'claimed', claim[1], claim[4]}
  end
  return {'in_progress'}
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'holdId', ARGV[4], 'location', ARGV[5], 'date', ARGV[6],
  'move', ARGV[7], 'fromHold', owner[2] or '', 'startedAt', ARGV[9])
redis.call('PEXPIRE', KEYS[3], ARGV[8])
return {'claimed', ARGV[4], owner[2] or ''}
