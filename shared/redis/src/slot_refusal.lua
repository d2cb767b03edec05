-- Cluster protocol, step 1's first half, on the station's shard: whether the date can be booked
-- at all, read before the person's shard is asked (take_slot.lua is prepended), so that the
-- claim answers an unknown or full date the same for every person. Writes nothing: the hold
-- (step 2) decides again, atomically, when it takes the slot.
-- KEYS[1] slots:{L}   KEYS[2] held:{L}   KEYS[3] capacity:{L}   ARGV[1] date
-- Returns '' or the refusal ('unknown_station', 'unknown_date', 'fully_booked').
return slot_refusal(KEYS[1], KEYS[2], KEYS[3], ARGV[1]) or ''
