-- remove_booking(booking, owner, seq, outbox, location, date, event_id, occurred_at, person,
-- nonce): removes the person's booking and appends its booking.cancelled event to the person's
-- outbox stream. Returns {held JSON, outbox id, sequence, holdId}; false when the person holds
-- no booking (or another one than the nonce's); {'moved'} when the booking no longer names
-- `location` and `date` (the caller reads it again). Shared by cancel.lua and
-- cancel_person.lua (cluster).
local function remove_booking(booking, owner, seq, outbox, location, date, event_id,
    occurred_at, person, nonce)
  local held = redis.call('GET', booking)
  if not held then
    return false
  end
  -- Ownership guard: cancel only the booking whose reference was checked. If it was cancelled
  -- and rebooked since, the nonce differs and the newer booking stays.
  local owned = redis.call('HMGET', owner, 'nonce', 'holdId')
  if owned[1] ~= nonce then
    return false
  end
  local decoded = cjson.decode(held)
  if decoded.location ~= location or decoded.date ~= date then
    return {'moved'}
  end
  redis.call('DEL', booking)
  -- The nonce goes with the booking, so its reference is dead from now on.
  redis.call('DEL', owner)
  -- The same bytes the Rust side serializes for a BookingEvent: the stamp's values are a UUID
  -- and an RFC 3339 time, and the booking is stored in its canonical JSON already.
  local sequence = redis.call('INCR', seq)
  local event = '{"sequence":' .. sequence .. ',"eventId":"' .. event_id ..
    '","type":"booking.cancelled","occurredAt":"' .. occurred_at .. '","booking":' .. held .. '}'
  local outbox_id = redis.call('XADD', outbox, '*', 'key', person, 'event', event)
  return {held, outbox_id, tostring(sequence), owned[2] or ''}
end

