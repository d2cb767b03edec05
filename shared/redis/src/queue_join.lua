-- One place per person: the first join takes the next position, every later one gets it back.
-- KEYS[1] queue:{room}:person:{pseudonym}  the person's position
-- KEYS[2] queue:{room}:seq                 the last position handed out
-- KEYS[3] queue:{room}:serving             positions up to this one are admitted
-- KEYS[4] queue:{room}:status              'closed' once no slot is left anywhere
-- Returns {position, newly queued (1/0), serving, open (1/0)}.
local position = redis.call('GET', KEYS[1])
local newly = 0
if position then
  position = tonumber(position)
else
  position = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], position)
  newly = 1
end
local serving = tonumber(redis.call('GET', KEYS[3]) or '0')
local open = 1
if redis.call('GET', KEYS[4]) == 'closed' then
  open = 0
end
return {position, newly, serving, open}
