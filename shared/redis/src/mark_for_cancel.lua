-- Cluster cancel, step (a), on the station's shard: puts the person on the reconciler's work
-- list with a score no earlier step holds, so that a settle of an older entry (the booking's
-- own step 4, or the reconciler's, decided before this cancel removed the booking) leaves it
-- in place: if the cancel stops before it gives the slot back, the reconciler does.
-- KEYS[1] unsettled:{L}   ARGV[1] person ID   ARGV[2] now (Unix ms)
-- Returns {score, 'new'} or {score, 'renewed'} (the person had an entry already).
local before = redis.call('ZSCORE', KEYS[1], ARGV[1])
local score = tonumber(ARGV[2])
if before and tonumber(before) >= score then
  score = tonumber(before) + 1
end
redis.call('ZADD', KEYS[1], score, ARGV[1])
return {string.format('%d', score), before and 'renewed' or 'new'}
