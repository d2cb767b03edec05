-- Cluster move within one station (another date), step 2, on the station's shard: takes a
-- slot of the new date for the move's hold and parks the booking's hold, whose slot stays
-- taken until the move is confirmed (release_parked.lua) or given up (release.lua restores
-- it). So the person is never without a slot, and one `holders` entry stays theirs. Idempotent
-- per move (take_slot.lua and mark_unsettled.lua are prepended).
-- KEYS[1] slots:{L}   KEYS[2] capacity:{L}   KEYS[3] held:{L}   KEYS[4] holders:{L}
-- KEYS[5] unsettled:{L}   KEYS[6] moving:{L}
-- ARGV[1] person ID   ARGV[2] the booking's holdId   ARGV[3] its date   ARGV[4] the move's holdId
-- ARGV[5] the new date   ARGV[6] now (Unix ms)
-- Returns {'held', score} as hold.lua does; {'stale_hold', holder}: the person's hold here is
-- not the booking's (another move's, maybe stale: the caller resolves it); or a refusal.
local holder = redis.call('HGET', KEYS[4], ARGV[1])
local parked = ARGV[2] .. '|' .. ARGV[3]
if holder == ARGV[4] .. '|' .. ARGV[5] and redis.call('HGET', KEYS[6], ARGV[1]) == parked then
  -- In place from an earlier try: written again, so the caller's WAIT covers it.
  redis.call('HSET', KEYS[4], ARGV[1], holder)
  return {'held', redis.call('ZSCORE', KEYS[5], ARGV[1]) or ''}
end
if holder ~= parked then
  return {'stale_hold', holder or ''}
end
local refused = take_slot(KEYS[1], KEYS[3], KEYS[2], ARGV[5])
if refused then
  return {refused}
end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[4] .. '|' .. ARGV[5])
redis.call('HSET', KEYS[6], ARGV[1], parked)
-- Newer than any entry the person had, so no settle decided before this removes it.
local score = mark_unsettled(KEYS[5], ARGV[1], ARGV[6])
return {'held', string.format('%d', score)}
