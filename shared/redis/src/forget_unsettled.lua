-- Reconciler, on the station's shard: a work-list entry whose person holds nothing here is
-- done, unless the entry changed since it was read (a new hold or cancel began).
-- KEYS[1] holders:{L}   KEYS[2] unsettled:{L}   ARGV[1] person ID   ARGV[2] score read
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
