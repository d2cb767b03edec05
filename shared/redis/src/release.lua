-- Cluster protocol, on the station's shard: gives the slot of the person's hold back, if the
-- hold is still `holdId` (give_back_slot.lua is prepended). With no hold left, the person's
-- work-list entry goes too. The hold of a move within the station that will not happen gives
-- its slot back and the booking's parked hold (hold_move.lua) is the person's hold again; the
-- work-list entry then stays, for that hold.
-- KEYS[1] slots:{L}   KEYS[2] capacity:{L}   KEYS[3] held:{L}   KEYS[4] holders:{L}
-- KEYS[5] unsettled:{L}   KEYS[6] moving:{L}
-- ARGV[1] person ID   ARGV[2] holdId
-- Returns 1 when a slot was given back.
local holder = redis.call('HGET', KEYS[4], ARGV[1])
if not holder then
  redis.call('ZREM', KEYS[5], ARGV[1])
  return 0
end
local bar = string.find(holder, '|', 1, true)
if not bar or string.sub(holder, 1, bar - 1) ~= ARGV[2] then
  return 0
end
local parked = redis.call('HGET', KEYS[6], ARGV[1])
if parked then
  redis.call('HSET', KEYS[4], ARGV[1], parked)
  redis.call('HDEL', KEYS[6], ARGV[1])
else
  redis.call('HDEL', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
end
give_back_slot(KEYS[1], KEYS[2], KEYS[3], string.sub(holder, bar + 1))
return 1
