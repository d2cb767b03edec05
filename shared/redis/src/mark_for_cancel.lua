-- Cluster cancel, step (a), on the station's shard: puts the person on the reconciler's work
-- list with a score no earlier step holds, so that a settle of an older entry (the booking's
-- own step 4, or the reconciler's, decided before this cancel removed the booking) leaves it
-- in place: if the cancel stops before it gives the slot back, the reconciler does.
-- (mark_unsettled.lua is prepended.)
-- KEYS[1] unsettled:{L}   ARGV[1] person ID   ARGV[2] now (Unix ms)
-- Returns {score, 'new'} or {score, 'renewed'} (the person had an entry already).
local score, before = mark_unsettled(KEYS[1], ARGV[1], ARGV[2])
return {string.format('%d', score), before and 'renewed' or 'new'}
