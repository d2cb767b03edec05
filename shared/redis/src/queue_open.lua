-- Opens a new epoch of the room: an empty queue whose keys expire with it. Whatever epoch
-- was open before is over (its tickets and tokens name another id; its person keys are
-- ignored from now on and expire on their own).
-- KEYS[1] queue:{room}:epochs  counter, never expires: ids only grow
-- KEYS[2] queue:{room}:epoch   KEYS[3] queue:{room}:seq   KEYS[4] queue:{room}:serving
-- KEYS[5] queue:{room}:status  KEYS[6] queue:{room}:inlet-clock
-- ARGV[1] now (ms)   ARGV[2] lifetime (ms)   ARGV[3] most places
-- Returns {id, openedAt, expiresAt, maxSize}.
local now, lifetime, max_size = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local id = redis.call('INCR', KEYS[1])
local expires = now + lifetime
redis.call('DEL', KEYS[2], KEYS[6])
redis.call('HSET', KEYS[2], 'id', id, 'openedAt', now, 'expiresAt', expires, 'maxSize', max_size)
redis.call('PEXPIREAT', KEYS[2], expires)
redis.call('SET', KEYS[3], 0, 'PXAT', expires)
redis.call('SET', KEYS[4], 0, 'PXAT', expires)
redis.call('SET', KEYS[5], 'open', 'PXAT', expires)
return {id, now, expires, max_size}
