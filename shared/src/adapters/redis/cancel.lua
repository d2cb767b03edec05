#!lua
-- Cancels one booking atomically: removes it, gives its slot back to the date's counter and
-- appends its booking.cancelled event to the outbox. The shebang makes Redis (7+) check memory
-- once before the script runs, so it either runs whole or not at all.
-- KEYS[1] booking:{id}       the person's one booking (canonical JSON)
-- KEYS[2] outbox stream
-- KEYS[3] booking-owner:{id} hash whose nonce the caller's reference was verified against
-- KEYS[4] slots:{location}   KEYS[5] capacity:{location}   KEYS[6] held:{location}
--   of the station the caller read from the booking, so every key is declared (Redis Cluster)
-- KEYS[7] event-seq:{id}     the person's event sequence (see book.lua)
-- ARGV[1] location   ARGV[2] date: what the caller read; the booking must still name them
-- ARGV[3] event id   ARGV[4] occurredAt   ARGV[5] event key (the person's ID)
-- ARGV[6] the nonce the caller's reference was verified against
-- Returns {removed booking JSON, outbox entry id, sequence}; nil when the person held none (or
-- another booking than the one verified); {'moved'} when the booking changed since the caller
-- read it (the caller reads again).
local held = redis.call('GET', KEYS[1])
if not held then
  return false
end
-- Ownership guard: cancel only the booking whose reference was checked. If it was cancelled
-- and rebooked since, the nonce differs and the newer booking stays.
if redis.call('HGET', KEYS[3], 'nonce') ~= ARGV[6] then
  return false
end
local booking = cjson.decode(held)
if booking.location ~= ARGV[1] or booking.date ~= ARGV[2] then
  return {'moved'}
end
local date = ARGV[2]
redis.call('DEL', KEYS[1])
-- The nonce goes with the booking, so its reference is dead from now on.
redis.call('DEL', KEYS[3])
-- Counters (issue 11): held:{location} is the truth, remaining = max(capacity - held, 0), so a
-- cancel frees nothing while bookings still exceed a shrunk capacity.
local count = redis.call('HGET', KEYS[6], date)
if count then
  count = math.max(tonumber(count) - 1, 0)
  redis.call('HSET', KEYS[6], date, count)
end
local remaining = redis.call('HGET', KEYS[4], date)
-- A date an operator removed has no counter left to give the slot back to.
if remaining then
  local capacity = redis.call('HGET', KEYS[5], date)
  local freed
  if count and capacity then
    freed = math.max(tonumber(capacity) - count, 0)
  else
    -- Not migrated yet: the old arithmetic, never above the date's capacity.
    freed = tonumber(remaining) + 1
    if capacity then
      freed = math.min(freed, tonumber(capacity))
    end
  end
  redis.call('HSET', KEYS[4], date, freed)
end
-- The same bytes the Rust side serializes for a BookingEvent: the stamp's values are a UUID
-- and an RFC 3339 time, and the booking is stored in its canonical JSON already.
local sequence = redis.call('INCR', KEYS[7])
local event = '{"sequence":' .. sequence .. ',"eventId":"' .. ARGV[3] .. '","type":"booking.cancelled","occurredAt":"' ..
  ARGV[4] .. '","booking":' .. held .. '}'
local outbox_id = redis.call('XADD', KEYS[2], '*', 'key', ARGV[5], 'event', event)
return {held, outbox_id, tostring(sequence)}
