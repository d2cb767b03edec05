-- The oldest outbox entries that have waited at least ARGV[1] ms, by Redis's own clock (the
-- clock that stamped their stream ids), at most ARGV[2] of them.
-- KEYS[1] outbox stream
local now = redis.call('TIME')
local newest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[1])
if newest < 0 then
  return {}
end
return redis.call('XRANGE', KEYS[1], '-', newest, 'COUNT', ARGV[2])
