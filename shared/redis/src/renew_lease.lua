-- Extends the lease only if this relay still holds it: a relay that outlived its lease must
-- stop rather than run beside the relay that took it over.
-- KEYS[1] lease key   ARGV[1] token   ARGV[2] new TTL in ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
