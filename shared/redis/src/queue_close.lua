-- Ends the open epoch at once: its tickets and tokens stop working, its counters go.
-- KEYS[1] queue:{room}:epoch   KEYS[2] queue:{room}:seq   KEYS[3] queue:{room}:serving
-- KEYS[4] queue:{room}:status  KEYS[5] queue:{room}:inlet-clock
-- Returns {id, openedAt, expiresAt, maxSize} of the epoch that was open, or {}.
local epoch = redis.call('HMGET', KEYS[1], 'id', 'openedAt', 'expiresAt', 'maxSize')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
if not epoch[1] then
  return {}
end
return epoch
