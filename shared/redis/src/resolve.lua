-- Reconciler, on the person's shard: what became of the person's side of a hold. One script,
-- so a late confirm and the reconciler can never both win: once this deletes the claim,
-- confirm.lua (or confirm_move.lua) finds it gone.
-- KEYS[1] booking:{p:NNN}:id   KEYS[2] booking-owner:{p:NNN}:id   KEYS[3] claim:{p:NNN}:id
-- KEYS[4] fence:{p:NNN}
-- ARGV[1] holdId   ARGV[2] now (Unix ms)   ARGV[3] the claim TTL (ms)
-- Returns 'booked' (the hold is the booking's), 'in_flight' (its claim, or a claim to move the
-- booking away from it, is younger than the TTL: leave it), or 'gone' (nothing on the
-- person's side will use the hold: release it).
-- The hold is settled or released only once the WAIT after this script was acknowledged: it
-- writes the fence, so that WAIT covers what it read (a booking, or a cancel's removal of it).
redis.call('SET', KEYS[4], '1')
local claim = redis.call('HMGET', KEYS[3], 'holdId', 'startedAt', 'fromHold')
local live = claim[1] and tonumber(ARGV[2]) - tonumber(claim[2] or '0') < tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HGET', KEYS[2], 'holdId') == ARGV[1] then
  -- A move away from this hold: the hold stays the booking's unless the move is confirmed,
  -- which it no longer can once its claim is deleted here.
  if claim[3] == ARGV[1] then
    if live then
      return 'in_flight'
    end
    redis.call('DEL', KEYS[3])
  end
  return 'booked'
end
if claim[1] == ARGV[1] then
  if live then
    return 'in_flight'
  end
  redis.call('DEL', KEYS[3])
end
return 'gone'
