#!lua
-- Creates a station's dates. An existing date keeps its live counter unless reset is asked;
-- a reset re-applies the capacity and never re-opens a booked slot: bookings are counted in
-- held:{location}, so remaining = max(capacity - held, 0) however many resets follow.
-- KEYS[1] slots:{location}   KEYS[2] capacity:{location}   KEYS[3] stations
-- KEYS[4] held:{location}    hash date -> bookings held
-- ARGV[1] location   ARGV[2] daily capacity   ARGV[3] '1' to reset   ARGV[4..] dates
-- Returns {written, skipped, unmigrated}: a reset leaves a date without a held count (data
-- from before the count, see the README's migration) untouched, since its bookings are unknown.
local capacity = tonumber(ARGV[2])
local reset = ARGV[3] == '1'
local written, skipped, unmigrated = 0, 0, 0
for i = 4, #ARGV do
  local date = ARGV[i]
  local remaining = redis.call('HGET', KEYS[1], date)
  local held = redis.call('HGET', KEYS[4], date)
  if not remaining then
    -- A new date, or one an operator removed while bookings on it stay counted.
    held = tonumber(held or 0)
    redis.call('HSET', KEYS[4], date, held)
    redis.call('HSET', KEYS[1], date, math.max(capacity - held, 0))
    redis.call('HSET', KEYS[2], date, capacity)
    written = written + 1
  elseif not reset then
    skipped = skipped + 1
  elseif held then
    redis.call('HSET', KEYS[1], date, math.max(capacity - tonumber(held), 0))
    redis.call('HSET', KEYS[2], date, capacity)
    written = written + 1
  else
    unmigrated = unmigrated + 1
  end
end
redis.call('SADD', KEYS[3], ARGV[1])
return {written, skipped, unmigrated}
