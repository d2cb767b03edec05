#!lua
-- Books one slot and records its event atomically. The shebang makes Redis (7+) check memory
-- once before the script runs, so it either runs whole or not at all.
-- KEYS[1] slots:{location}   hash date -> remaining slots
-- KEYS[2] booking:{id}       the person's one booking (canonical JSON)
-- KEYS[3] outbox stream      events waiting for the broker
-- KEYS[4] booking-owner:{id} hash nonce, bookedAt: what the booking reference is derived from
-- KEYS[5] held:{location}    hash date -> bookings held
-- KEYS[6] capacity:{location} hash date -> daily capacity
-- KEYS[7] event-seq:{id}     the person's event sequence (a counter, see below)
-- ARGV[1] date (YYYYMMDD)    ARGV[2] the booking's canonical JSON
-- ARGV[3] event key (the person's ID)   ARGV[4] event JSON, an object without "sequence"
-- ARGV[5] the new booking's nonce (hex)   ARGV[6] booking time (Unix ms)
-- ARGV[7] when the booking's records expire (Unix seconds): its date + BOOKING_RETENTION_DAYS
local held = redis.call('GET', KEYS[2])
if held then
  if held == ARGV[2] then
    -- Durability (issue 11): rewrite the same bytes so this retry has a write of its own; the
    -- WAIT after it (REDIS_WAIT_REPLICAS) then also confirms the original booking replicated,
    -- whichever connection wrote it.
    redis.call('SET', KEYS[2], held, 'KEEPTTL')
    -- The stored nonce and time let the retry show the same reference within its window.
    local owner = redis.call('HMGET', KEYS[4], 'nonce', 'bookedAt')
    return {'already_held', owner[1] or '', owner[2] or ''}
  end
  return {'already_booked'}
end
local remaining = redis.call('HGET', KEYS[1], ARGV[1])
if not remaining then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    return {'unknown_station'}
  end
  return {'unknown_date'}
end
-- Counters (issue 11): held:{location} is the truth and remaining = max(capacity - held, 0).
-- A date without a held count predates it (see the README's migration) and keeps the old
-- arithmetic on remaining alone until migrated.
local count = redis.call('HGET', KEYS[5], ARGV[1])
local capacity = redis.call('HGET', KEYS[6], ARGV[1])
if count and capacity then
  local free = tonumber(capacity) - tonumber(count)
  if free <= 0 then
    return {'fully_booked'}
  end
  redis.call('HINCRBY', KEYS[5], ARGV[1], 1)
  redis.call('HSET', KEYS[1], ARGV[1], free - 1)
else
  if tonumber(remaining) <= 0 then
    return {'fully_booked'}
  end
  if count then
    redis.call('HINCRBY', KEYS[5], ARGV[1], 1)
  end
  redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
end
-- Retention (issue 11): personal data expires; held keeps counting it for its date.
redis.call('SET', KEYS[2], ARGV[2], 'EXAT', ARGV[7])
-- A new booking, a new nonce: a reference from an earlier booking never matches this one.
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], 'nonce', ARGV[5], 'bookedAt', ARGV[6])
redis.call('EXPIREAT', KEYS[4], ARGV[7])
-- Numbered here, in the order the scripts ran, which the client's clock cannot tell: consumers
-- order one person's events by it. Prepended the way BookingEvent serializes it (field first).
-- The counter outlives cancels, so a rebooking continues the numbering; it expires with the
-- person's newest booking records (NX sets a first expiry, GT only ever extends it).
local sequence = redis.call('INCR', KEYS[7])
redis.call('EXPIREAT', KEYS[7], ARGV[7], 'NX')
redis.call('EXPIREAT', KEYS[7], ARGV[7], 'GT')
local event = '{"sequence":' .. sequence .. ',' .. string.sub(ARGV[4], 2)
local outbox_id = redis.call('XADD', KEYS[3], '*', 'key', ARGV[3], 'event', event)
return {'created', outbox_id, tostring(sequence)}
