-- Cancels one booking atomically (single Redis): removes it, gives its slot back to the date's
-- counter and appends its booking.cancelled event to the outbox (see remove_booking.lua and
-- give_back_slot.lua, prepended to this script, with the `#!lua` line).
-- KEYS[1] booking:{p:NNN}:id  KEYS[2] outbox:{p:NNN}  KEYS[3] booking-owner:{p:NNN}:id
-- KEYS[4] slots:{location}   KEYS[5] capacity:{location}   KEYS[6] held:{location}
--   of the station the caller read from the booking, so every key is declared
-- KEYS[7] event-seq:{p:NNN}:id
-- KEYS[8] holders:{location}   KEYS[9] unsettled:{location}: the person's hold goes too
-- ARGV[1] location   ARGV[2] date: what the caller read; the booking must still name them
-- ARGV[3] event id   ARGV[4] occurredAt   ARGV[5] event key (the person's ID)
-- ARGV[6] the nonce the caller's reference was verified against
-- Returns {removed booking JSON, outbox entry id, sequence, holdId}, false or {'moved'} (see
-- remove_booking.lua).
local removed = remove_booking(KEYS[1], KEYS[3], KEYS[7], KEYS[2], ARGV[1], ARGV[2], ARGV[3],
  ARGV[4], ARGV[5], ARGV[6])
if not removed or removed[1] == 'moved' then
  return removed
end
redis.call('HDEL', KEYS[8], ARGV[5])
redis.call('ZREM', KEYS[9], ARGV[5])
give_back_slot(KEYS[4], KEYS[5], KEYS[6], ARGV[2])
return removed
