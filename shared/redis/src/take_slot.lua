-- take_slot(slots, held, capacity, date): takes one slot of `date` at a station, or returns why
-- not ('unknown_station', 'unknown_date', 'fully_booked'). Shared by book.lua and hold.lua.
-- Counters (issue 11): held:{location} is the truth and remaining = max(capacity - held, 0).
-- A date without a held count predates it (see the README's migration) and keeps the old
-- arithmetic on remaining alone until migrated.
local function take_slot(slots, held, capacity, date)
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
    local free = tonumber(cap) - tonumber(count)
    if free <= 0 then
      return 'fully_booked'
    end
    redis.call('HINCRBY', held, date, 1)
    redis.call('HSET', slots, date, free - 1)
  else
    if tonumber(remaining) <= 0 then
      return 'fully_booked'
    end
    if count then
      redis.call('HINCRBY', held, date, 1)
    end
    redis.call('HINCRBY', slots, date, -1)
  end
  return nil
end

