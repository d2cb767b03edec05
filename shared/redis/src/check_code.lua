-- Checks a one-time code of an (ID, phone) pair. The same keys as issue_code.lua.
-- KEYS[1] otp:{P}:lock:I, KEYS[2] otp:{P}:ids, KEYS[3] otp:{P}:code:I
-- ARGV: now, code hash, tries allowed, lock ms, ID hash, IDs per phone, IDs window ms
-- Returns {'verified'} (the code is used up and the ID counted for the phone), {'failed'} (no
-- code, expired, or wrong: the wrong try counted, the last allowed one locking the pair), or
-- {'locked' | 'too_many_ids', ms until it ends}.
local now = tonumber(ARGV[1])
local locked = locked_for(KEYS[1], now)
if locked then
  return {'locked', locked}
end
local code = redis.call('HMGET', KEYS[3], 'hash', 'expiresAt')
if not code[1] or tonumber(code[2]) <= now then
  return {'failed'}
end
if code[1] ~= ARGV[2] then
  if redis.call('HINCRBY', KEYS[3], 'tries', 1) >= tonumber(ARGV[3]) then
    local lock = tonumber(ARGV[4])
    redis.call('DEL', KEYS[3])
    redis.call('SET', KEYS[1], now + lock, 'PX', lock)
  end
  return {'failed'}
end
local ids_window = tonumber(ARGV[7])
local ids_refused = ids_refusal(KEYS[2], ARGV[5], tonumber(ARGV[6]), ids_window, now)
if ids_refused then
  return {'too_many_ids', ids_refused}
end
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('PEXPIRE', KEYS[2], ids_window)
redis.call('DEL', KEYS[3])
return {'verified'}
