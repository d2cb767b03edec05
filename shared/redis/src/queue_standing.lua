-- Shared by the queue scripts: where the room stands, the serving number and whether it is
-- open (not 'closed' by the inlet for want of slots).
local function standing(serving_key, status_key)
  local serving = tonumber(redis.call('GET', serving_key) or '0')
  local open = 1
  if redis.call('GET', status_key) == 'closed' then
    open = 0
  end
  return serving, open
end
