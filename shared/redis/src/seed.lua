#!lua
-- Creates a station's dates. An existing date keeps its live counter unless reset is asked;
-- a reset re-applies the capacity and never re-opens a booked slot: bookings are counted in
-- held:{location}, so remaining = max(capacity - held, 0) however many resets follow.
-- KEYS[1] slots:{L}   KEYS[2] capacity:{L}   KEYS[3] held:{L} (hash date -> bookings held):
-- one hash slot; the caller adds the station to `stations` (another slot) afterwards.
-- ARGV[1] location (unused; the arguments stay as they were)   ARGV[2] daily capacity
-- ARGV[3] '1' to reset   ARGV[4..] dates
-- Returns {written, skipped, unmigrated}: a reset leaves a date without a held count (data
-- from before the count, see the README's migration) untouched, since its bookings are unknown.
local capacity = tonumber(ARGV[2])
local reset = ARGV[3] == '1'
local written, skipped, unmigrated = 0, 0, 0
for i = 4, #ARGV do
  local date = ARGV[i]
  local remaining = redis.call('HGET', KEYS[1], date)
  local held = redis.call('HGET', KEYS[3], date)
  if not remaining then
    -- A new date, or one an operator removed while bookings on it stay counted.
    held = tonumber(held or 0)
    redis.call('HSET', KEYS[3], date, held)
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
return {written, skipped, unmigrated}
