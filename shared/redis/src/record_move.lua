-- record_move(booking, owner, seq, outbox, json, person, event, hold_id, expires_at): rewrites
-- the person's booking at its new slot and appends its booking.rescheduled event to the
-- person's outbox stream; returns the outbox entry id and the event's sequence. The nonce and
-- bookedAt stay, so the reference does; the hold is the new one. Shared by move.lua (single
-- Redis) and confirm_move.lua (cluster).
local function record_move(booking, owner, seq, outbox, json, person, event, hold_id,
    expires_at)
  -- Retention follows the date: personal data is kept as long after the new date.
  redis.call('SET', booking, json, 'EXAT', expires_at)
  redis.call('HSET', owner, 'holdId', hold_id)
  redis.call('EXPIREAT', owner, expires_at)
  -- Numbered as record_booking.lua numbers a booking's event; the counter never expires
  -- before the newest records (NX sets a first expiry, GT only ever extends it).
  local sequence = redis.call('INCR', seq)
  redis.call('EXPIREAT', seq, expires_at, 'NX')
  redis.call('EXPIREAT', seq, expires_at, 'GT')
  local stamped = '{"sequence":' .. sequence .. ',' .. string.sub(event, 2)
  local outbox_id = redis.call('XADD', outbox, '*', 'key', person, 'event', stamped)
  return outbox_id, sequence
end

