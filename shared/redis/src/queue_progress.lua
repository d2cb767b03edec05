-- Where the open room stands, in one round trip.
-- KEYS[1] queue:{room}:serving   KEYS[2] queue:{room}:status   KEYS[3] queue:{room}:epoch
-- Returns {serving, open (1/0), epoch id or ''}.
local epoch = redis.call('HGET', KEYS[3], 'id')
if not epoch then
  return {0, 0, ''}
end
local serving, open = standing(KEYS[1], KEYS[2])
return {serving, open, epoch}
