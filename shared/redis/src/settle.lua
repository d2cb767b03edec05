-- Cluster protocol, step 4, on the station's shard: the person's side is settled, so the hold
-- leaves the reconciler's work list, unless the entry changed since (a cancel marked the
-- person again): then it stays for the reconciler.
-- KEYS[1] unsettled:{L}   ARGV[1] person ID   ARGV[2] the entry's score when it was read
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
