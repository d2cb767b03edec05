#!lua
-- Books one slot and records its event atomically. The shebang makes Redis (7+) check memory
-- once before the script runs, so it either runs whole or not at all.
-- KEYS[1] slots:{location}   hash date -> remaining slots
-- KEYS[2] booking:{id}       the person's one booking (canonical JSON)
-- KEYS[3] outbox stream      events waiting for the broker
-- KEYS[4] booking-owner:{id} hash nonce, bookedAt: what the booking reference is derived from
-- ARGV[1] date (YYYYMMDD)    ARGV[2] the booking's canonical JSON
-- ARGV[3] event key (the person's ID)   ARGV[4] event JSON
-- ARGV[5] the new booking's nonce (hex)   ARGV[6] booking time (Unix ms)
local held = redis.call('GET', KEYS[2])
if held then
  if held == ARGV[2] then
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
if tonumber(remaining) <= 0 then
  return {'fully_booked'}
end
redis.call('SET', KEYS[2], ARGV[2])
-- A new booking, a new nonce: a reference from an earlier booking never matches this one.
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], 'nonce', ARGV[5], 'bookedAt', ARGV[6])
redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
local outbox_id = redis.call('XADD', KEYS[3], '*', 'key', ARGV[3], 'event', ARGV[4])
return {'created', outbox_id}
