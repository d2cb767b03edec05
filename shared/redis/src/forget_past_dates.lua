-- Retention, on the station's shard: dates whose day ended BOOKING_RETENTION_DAYS ago (before
-- ARGV[1]) leave the station, so nobody books them any more. Their held counts go last, once
-- their holders have (forget_past_holders.lua): a run that stops half way leaves them, and the
-- next run finishes.
-- KEYS[1] slots:{L}   KEYS[2] capacity:{L}   KEYS[3] held:{L}   ARGV[1] the first date kept
-- Returns the past dates whose holders are still to go (those still in held).
for _, key in ipairs({KEYS[1], KEYS[2]}) do
  for _, date in ipairs(redis.call('HKEYS', key)) do
    if date < ARGV[1] then
      redis.call('HDEL', key, date)
    end
  end
end
local pending = {}
for _, date in ipairs(redis.call('HKEYS', KEYS[3])) do
  if date < ARGV[1] then
    table.insert(pending, date)
  end
end
return pending
