#!lua
-- Books one slot and records its event atomically. The shebang makes Redis (7+) check memory
-- once before the script runs, so it either runs whole or not at all.
-- KEYS[1] slots:{location}   hash date -> remaining slots
-- KEYS[2] booking:{id}       the person's one booking (canonical JSON)
-- KEYS[3] outbox stream      events waiting for the broker
-- KEYS[4] held:{location}    hash date -> bookings held
-- KEYS[5] capacity:{location} hash date -> daily capacity
-- ARGV[1] date (YYYYMMDD)    ARGV[2] the booking's canonical JSON
-- ARGV[3] event key (the person's ID)   ARGV[4] event JSON
-- ARGV[5] when the booking record expires (Unix seconds): its date + BOOKING_RETENTION_DAYS
local held = redis.call('GET', KEYS[2])
if held then
  if held == ARGV[2] then
    -- Durability (issue 11): rewrite the same bytes so this retry has a write of its own; the
    -- WAIT after it (REDIS_WAIT_REPLICAS) then also confirms the original booking replicated,
    -- whichever connection wrote it.
    redis.call('SET', KEYS[2], held, 'KEEPTTL')
    return {'already_held'}
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
local count = redis.call('HGET', KEYS[4], ARGV[1])
local capacity = redis.call('HGET', KEYS[5], ARGV[1])
if count and capacity then
  local free = tonumber(capacity) - tonumber(count)
  if free <= 0 then
    return {'fully_booked'}
  end
  redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
  redis.call('HSET', KEYS[1], ARGV[1], free - 1)
else
  if tonumber(remaining) <= 0 then
    return {'fully_booked'}
  end
  if count then
    redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
  end
  redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
end
-- Retention (issue 11): personal data expires; held keeps counting it for its date.
redis.call('SET', KEYS[2], ARGV[2], 'EXAT', ARGV[5])
local outbox_id = redis.call('XADD', KEYS[3], '*', 'key', ARGV[3], 'event', ARGV[4])
return {'created', outbox_id}
