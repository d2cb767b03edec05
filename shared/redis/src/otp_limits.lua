-- Shared by issue_code.lua and check_code.lua (composed in front of them).
-- The ms the (ID, phone) pair stays locked after too many wrong tries, or nil.
local function locked_for(key, now)
  local until_ms = tonumber(redis.call('GET', key) or '0')
  if until_ms > now then
    return until_ms - now
  end
  return nil
end

-- The ms until the oldest entry of the sorted set `key` leaves its `window`.
local function oldest_ends(key, window, now)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end

-- Forgets the IDs verified before the window; the ms until one leaves it when the phone holds
-- `max` other IDs than `id`, else nil.
local function ids_refusal(key, id, max, window, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if not redis.call('ZSCORE', key, id) and redis.call('ZCARD', key) >= max then
    return oldest_ends(key, window, now)
  end
  return nil
end
