#!lua
-- Creates a station's dates. An existing date keeps its live counter unless reset is asked;
-- a reset re-applies the capacity but keeps booked slots booked (remaining = capacity - booked).
-- KEYS[1] slots:{location}   KEYS[2] capacity:{location}   KEYS[3] stations
-- ARGV[1] location   ARGV[2] daily capacity   ARGV[3] '1' to reset   ARGV[4..] dates
local capacity = tonumber(ARGV[2])
local reset = ARGV[3] == '1'
local written, skipped = 0, 0
for i = 4, #ARGV do
  local date = ARGV[i]
  local remaining = redis.call('HGET', KEYS[1], date)
  if not remaining then
    redis.call('HSET', KEYS[1], date, capacity)
    redis.call('HSET', KEYS[2], date, capacity)
    written = written + 1
  elseif reset then
    local old_capacity = tonumber(redis.call('HGET', KEYS[2], date) or remaining)
    local booked = math.max(old_capacity - tonumber(remaining), 0)
    redis.call('HSET', KEYS[1], date, math.max(capacity - booked, 0))
    redis.call('HSET', KEYS[2], date, capacity)
    written = written + 1
  else
    skipped = skipped + 1
  end
end
redis.call('SADD', KEYS[3], ARGV[1])
return {written, skipped}
