-- Cluster protocol, step 2, on the station's shard: takes a slot for the person's hold,
-- idempotent per person (take_slot.lua is prepended).
-- KEYS[1] slots:{L}   KEYS[2] capacity:{L}   KEYS[3] held:{L}   KEYS[4] holders:{L}
-- KEYS[5] unsettled:{L}   KEYS[6] moving:{L} (declared with every station step, unused here)
-- ARGV[1] person ID   ARGV[2] holdId   ARGV[3] date   ARGV[4] now (Unix ms)
-- Returns {'held', score}: this hold is in place (now or by an earlier try), with its score in
-- unsettled; {'stale_hold', holdId|date}: the person holds a slot here under another holdId,
-- which may be stale (the caller resolves it); or a refusal from take_slot.
-- The caller WAITs after every call (REDIS_WAIT_REPLICAS) and goes on only with the replicas'
-- acknowledgement, so a hold that is found already in place is written again: that WAIT then
-- covers the earlier try's writes, whichever connection made them.
local holder = redis.call('HGET', KEYS[4], ARGV[1])
if holder then
  if holder == ARGV[2] .. '|' .. ARGV[3] then
    redis.call('HSET', KEYS[4], ARGV[1], holder)
    return {'held', redis.call('ZSCORE', KEYS[5], ARGV[1]) or ''}
  end
  return {'stale_hold', holder}
end
local refused = take_slot(KEYS[1], KEYS[3], KEYS[2], ARGV[3])
if refused then
  return {refused}
end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
return {'held', ARGV[4]}
