-- Cluster move within one station, step 5, on the station's shard: the move is confirmed, so
-- the booking's old hold, parked by hold_move.lua, is given back (give_back_slot.lua is
-- prepended). Only while the parked hold is still `holdId`.
-- KEYS[1] slots:{L}   KEYS[2] capacity:{L}   KEYS[3] held:{L}   KEYS[4] holders:{L}
-- KEYS[5] unsettled:{L}   KEYS[6] moving:{L}
-- ARGV[1] person ID   ARGV[2] the parked holdId
-- Returns 1 when a slot was given back.
local parked = redis.call('HGET', KEYS[6], ARGV[1])
if not parked then
  return 0
end
local bar = string.find(parked, '|', 1, true)
if not bar or string.sub(parked, 1, bar - 1) ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[6], ARGV[1])
give_back_slot(KEYS[1], KEYS[2], KEYS[3], string.sub(parked, bar + 1))
return 1
