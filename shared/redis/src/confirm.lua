-- Cluster protocol, step 3, on the person's shard: turns the claim into the booking, with its
-- owner record and booking.created event, while the claim is still this hold's
-- (record_booking.lua is prepended).
-- KEYS[1] booking:{p:NNN}:id   KEYS[2] booking-owner:{p:NNN}:id   KEYS[3] claim:{p:NNN}:id
-- KEYS[4] event-seq:{p:NNN}:id   KEYS[5] outbox:{p:NNN}   KEYS[6] fence:{p:NNN}
-- KEYS[7] booking-retry:{p:NNN}:id
-- ARGV[1] holdId   ARGV[2] booking JSON   ARGV[3] person ID   ARGV[4] event JSON (no sequence)
-- ARGV[5] nonce (hex)   ARGV[6] bookedAt (Unix ms)   ARGV[7] records expire at (Unix s)
-- ARGV[8] the Idempotency-Key's digest, or ''   ARGV[9] the retry window (ms)
-- Returns {'created', outbox id, sequence}; {'already_held', nonce, bookedAt, key digest} when
-- this hold was confirmed before (a repeated step); {'claim_lost'} when the claim expired or the
-- reconciler resolved it away: the caller releases the hold and answers 503.
-- The caller acts on every answer only once the WAIT after it was acknowledged, so the answers
-- that write nothing else write: the booking again (already_held), or the fence (claim_lost:
-- the claim's removal, or the booking of another hold, must be on the replicas before this
-- hold's slot is given back).
if redis.call('HGET', KEYS[3], 'holdId') ~= ARGV[1] then
  if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HGET', KEYS[2], 'holdId') == ARGV[1] then
    redis.call('SET', KEYS[1], redis.call('GET', KEYS[1]), 'KEEPTTL')
    local owner = redis.call('HMGET', KEYS[2], 'nonce', 'bookedAt')
    return {'already_held', owner[1] or '', owner[2] or '', redis.call('GET', KEYS[7]) or ''}
  end
  redis.call('SET', KEYS[6], '1')
  return {'claim_lost'}
end
local outbox_id, sequence = record_booking(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[7], ARGV[2],
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[1], ARGV[8], ARGV[9])
redis.call('DEL', KEYS[3])
return {'created', outbox_id, tostring(sequence)}
