-- record_booking(booking, owner, seq, outbox, retry, json, person, event, nonce, booked_at,
-- expires_at, hold_id, retry_digest, retry_window_ms): stores the person's booking, its owner
-- record, the digest of its Idempotency-Key (if any) and its booking.created event in the
-- person's outbox stream; returns the outbox entry id and the event's sequence.
-- Shared by book.lua (single Redis) and confirm.lua (cluster).
local function record_booking(booking, owner, seq, outbox, retry, json, person, event, nonce,
    booked_at, expires_at, hold_id, retry_digest, retry_window_ms)
  -- Retention (issue 11): personal data expires; held keeps counting it for its date.
  redis.call('SET', booking, json, 'EXAT', expires_at)
  -- A new booking, a new nonce: a reference from an earlier booking never matches this one.
  redis.call('DEL', owner)
  redis.call('HSET', owner, 'nonce', nonce, 'bookedAt', booked_at, 'holdId', hold_id)
  redis.call('EXPIREAT', owner, expires_at)
  -- Only a retry with this attempt's key is shown the reference again, and only within the
  -- window, so the digest lives that long; a new booking never inherits an earlier one's.
  redis.call('DEL', retry)
  if retry_digest ~= '' then
    redis.call('SET', retry, retry_digest, 'PX', retry_window_ms)
  end
  -- Numbered here, in the order the scripts ran, which the client's clock cannot tell:
  -- consumers order one person's events by it. Prepended the way BookingEvent serializes it
  -- (field first). The counter outlives cancels, so a rebooking continues the numbering; it
  -- expires with the person's newest booking records (NX sets a first expiry, GT only ever
  -- extends it).
  local sequence = redis.call('INCR', seq)
  redis.call('EXPIREAT', seq, expires_at, 'NX')
  redis.call('EXPIREAT', seq, expires_at, 'GT')
  local stamped = '{"sequence":' .. sequence .. ',' .. string.sub(event, 2)
  local outbox_id = redis.call('XADD', outbox, '*', 'key', person, 'event', stamped)
  return outbox_id, sequence
end

