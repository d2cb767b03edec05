-- The inlet: lets people in at a rate, in order of position, never past the last position
-- taken, and closes the room when no slot is left. The rate's clock lives here, so inlets
-- running at once share one allowance instead of each admitting the full rate.
-- KEYS[1] queue:{room}:seq   KEYS[2] queue:{room}:serving   KEYS[3] queue:{room}:status
-- KEYS[4] queue:{room}:inlet-clock  ms up to which the rate's allowance was spent
-- KEYS[5] queue:{room}:epoch  the open epoch; with none, nothing happens
-- ARGV[1] now (ms)   ARGV[2] people per minute   ARGV[3] most to admit now (slots left)
-- ARGV[4] 1 when no slot is left anywhere
-- Returns {serving, open (1/0), epoch id or ''}.
local epoch = redis.call('HMGET', KEYS[5], 'id', 'expiresAt')
if not epoch[1] then
  return {0, 0, ''}
end
local expires = epoch[2]
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local max_step = tonumber(ARGV[3])
local serving = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[4] == '1' then
  redis.call('SET', KEYS[3], 'closed', 'PXAT', expires)
  redis.call('SET', KEYS[4], now, 'PXAT', expires)
  return {serving, 0, epoch[1]}
end
redis.call('SET', KEYS[3], 'open', 'PXAT', expires)
local last = tonumber(redis.call('GET', KEYS[4]) or (now - 1000))
if last > now then
  last = now
end
-- After a pause (inlet stopped, rate was 0) admit at most a minute's worth at once.
if now - last > 60000 then
  last = now - 60000
end
local allowance = 0
if rate > 0 then
  allowance = math.floor((now - last) * rate / 60000)
end
local waiting = tonumber(redis.call('GET', KEYS[1]) or '0') - serving
local step = math.max(0, math.min(allowance, waiting, max_step))
if step < allowance or rate <= 0 then
  -- Allowance nobody could use (nobody waiting, few slots) is not saved up for a burst later.
  last = now
else
  last = last + math.floor(step * 60000 / rate)
end
redis.call('SET', KEYS[4], last, 'PXAT', expires)
if step > 0 then
  serving = redis.call('INCRBY', KEYS[2], step)
end
return {serving, 1, epoch[1]}
