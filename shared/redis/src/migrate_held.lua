-- One-off migration (issue 11): gives every date of one station that lacks a held count the
-- number of booking records found for it, and recomputes remaining = max(capacity - held, 0).
-- A date without a capacity entry gets capacity = remaining + held, what the old scripts kept.
-- KEYS[1] slots:{location}   KEYS[2] capacity:{location}   KEYS[3] held:{location}
-- ARGV pairs: date, bookings counted on that date (dates without bookings are left out)
-- Returns the number of dates migrated; dates that already have a count are left alone.
local counted = {}
for i = 1, #ARGV, 2 do
  counted[ARGV[i]] = tonumber(ARGV[i + 1])
end
local dates = redis.call('HKEYS', KEYS[1])
for date in pairs(counted) do
  if redis.call('HEXISTS', KEYS[1], date) == 0 then
    table.insert(dates, date)
  end
end
local migrated = 0
for _, date in ipairs(dates) do
  if redis.call('HEXISTS', KEYS[3], date) == 0 then
    local held = counted[date] or 0
    redis.call('HSET', KEYS[3], date, held)
    local remaining = redis.call('HGET', KEYS[1], date)
    if remaining then
      local capacity = redis.call('HGET', KEYS[2], date)
      if not capacity then
        capacity = math.max(tonumber(remaining), 0) + held
        redis.call('HSET', KEYS[2], date, capacity)
      end
      redis.call('HSET', KEYS[1], date, math.max(tonumber(capacity) - held, 0))
    end
    migrated = migrated + 1
  end
end
return migrated
