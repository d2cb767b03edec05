-- slot_refusal(slots, held, capacity, date): why no slot of `date` can be taken at a station
-- ('unknown_station', 'unknown_date', 'fully_booked'), or nil with the date's held count and
-- capacity as read; writes nothing. Booking scripts ask it before they look at the person, so
-- that these answers never depend on whether the person holds a booking (issue 23).
-- Counters (issue 11): held:{location} is the truth and remaining = max(capacity - held, 0).
-- A date without a held count predates it (see the README's migration) and keeps the old
-- arithmetic on remaining alone until migrated.
local function slot_refusal(slots, held, capacity, date)
  local remaining = redis.call('HGET', slots, date)
  if not remaining then
    if redis.call('EXISTS', slots) == 0 then
      return 'unknown_station'
    end
    return 'unknown_date'
  end
  local count = redis.call('HGET', held, date)
  local cap = redis.call('HGET', capacity, date)
  if count and cap then
    if tonumber(cap) - tonumber(count) <= 0 then
      return 'fully_booked'
    end
  elseif tonumber(remaining) <= 0 then
    return 'fully_booked'
  end
  return nil, count, cap
end

-- take_slot(slots, held, capacity, date): takes one slot of `date` at a station, or returns why
-- not (see slot_refusal). Shared by book.lua and hold.lua.
local function take_slot(slots, held, capacity, date)
  local refused, count, cap = slot_refusal(slots, held, capacity, date)
  if refused then
    return refused
  end
  if count and cap then
    redis.call('HINCRBY', held, date, 1)
    redis.call('HSET', slots, date, tonumber(cap) - tonumber(count) - 1)
  else
    if count then
      redis.call('HINCRBY', held, date, 1)
    end
    redis.call('HINCRBY', slots, date, -1)
  end
  return nil
end

