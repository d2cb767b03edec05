#!lua
-- Cancels one booking atomically: removes it, gives its slot back to the date's counter (never
-- above the date's capacity) and appends its booking.cancelled event to the outbox. The
-- shebang makes Redis (7+) check memory once before the script runs, so it either runs whole or
-- not at all.
-- KEYS[1] booking:{id}       the person's one booking (canonical JSON)
-- KEYS[2] outbox stream
-- KEYS[3] booking-owner:{id} hash whose nonce the caller's reference was verified against
-- ARGV[1] slots key prefix   ARGV[2] capacity key prefix (the station's keys are named by the
--                            booking's own location, known only once the booking is read)
-- ARGV[3] event id   ARGV[4] occurredAt   ARGV[5] event key (the person's ID)
-- ARGV[6] the nonce the caller's reference was verified against
-- Returns {removed booking JSON, outbox entry id}, or nil when the person held none.
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
local slots = ARGV[1] .. booking.location
local remaining = redis.call('HGET', slots, booking.date)
redis.call('DEL', KEYS[1])
-- The nonce goes with the booking, so its reference is dead from now on.
redis.call('DEL', KEYS[3])
-- A date an operator removed has no counter left to give the slot back to.
if remaining then
  local freed = tonumber(remaining) + 1
  local capacity = redis.call('HGET', ARGV[2] .. booking.location, booking.date)
  if capacity then
    freed = math.min(freed, tonumber(capacity))
  end
  redis.call('HSET', slots, booking.date, freed)
end
-- The same bytes the Rust side serializes for a BookingEvent: the stamp's values are a UUID
-- and an RFC 3339 time, and the booking is stored in its canonical JSON already.
local event = '{"eventId":"' .. ARGV[3] .. '","type":"booking.cancelled","occurredAt":"' ..
  ARGV[4] .. '","booking":' .. held .. '}'
local outbox_id = redis.call('XADD', KEYS[2], '*', 'key', ARGV[5], 'event', event)
return {held, outbox_id}
