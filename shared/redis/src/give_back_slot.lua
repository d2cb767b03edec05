-- give_back_slot(slots, capacity, held, date): one slot of `date` at a station is free again.
-- Shared by cancel.lua and release.lua. Counters (issue 11): held:{location} is the truth,
-- remaining = max(capacity - held, 0), so a cancel frees nothing while bookings still exceed a
-- shrunk capacity.
local function give_back_slot(slots, capacity, held, date)
  local count = redis.call('HGET', held, date)
  if count then
    count = math.max(tonumber(count) - 1, 0)
    redis.call('HSET', held, date, count)
  end
  local remaining = redis.call('HGET', slots, date)
  -- A date an operator removed has no counter left to give the slot back to.
  if remaining then
    local cap = redis.call('HGET', capacity, date)
    local freed
    if count and cap then
      freed = math.max(tonumber(cap) - count, 0)
    else
      -- Not migrated yet: the old arithmetic, never above the date's capacity.
      freed = tonumber(remaining) + 1
      if cap then
        freed = math.min(freed, tonumber(cap))
      end
    end
    redis.call('HSET', slots, date, freed)
  end
end

