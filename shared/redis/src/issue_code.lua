-- A new one-time code for an (ID, phone) pair, unless a limit says no. Every key carries the
-- phone's hash tag, so this runs on one cluster slot. Times are the caller's clock (Unix ms);
-- each key's TTL only cleans up after the rule that reads it.
-- KEYS[1] otp:{P}:lock:I   Unix ms until which the pair is locked (wrong tries)
-- KEYS[2] otp:{P}:ids      sorted set, ID hash -> when it was last verified with this phone
-- KEYS[3] otp:{P}:sent     sorted set, code hash -> when it was sent to this phone
-- KEYS[4] otp:{P}:code:I   hash: `hash` of the code, `expiresAt`, `tries` (wrong ones)
-- ARGV: now, code hash, code TTL ms, codes per phone, codes window ms, ID hash, IDs per phone,
--       IDs window ms
-- Returns {'stored'}, or {'locked' | 'too_many_codes' | 'too_many_ids', ms until it ends}.
local now = tonumber(ARGV[1])
local locked = locked_for(KEYS[1], now)
if locked then
  return {'locked', locked}
end
local ids_refused = ids_refusal(KEYS[2], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), now)
if ids_refused then
  return {'too_many_ids', ids_refused}
end
local codes_window = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - codes_window)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then
  return {'too_many_codes', oldest_ends(KEYS[3], codes_window, now)}
end
redis.call('ZADD', KEYS[3], now, ARGV[2])
redis.call('PEXPIRE', KEYS[3], codes_window)
-- A new code replaces the pair's earlier one, and starts with no wrong tries.
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], 'hash', ARGV[2], 'expiresAt', now + tonumber(ARGV[3]), 'tries', 0)
redis.call('PEXPIRE', KEYS[4], ARGV[3])
return {'stored'}
