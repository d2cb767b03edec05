-- One place per person and epoch, at most the room's size: the first join takes the next
-- position, every later one in the same epoch gets it back.
-- KEYS[1] queue:{room}:person:{pseudonym}  `{epoch}:{position}`, expiring with the epoch
-- KEYS[2] queue:{room}:seq                 the last position handed out
-- KEYS[3] queue:{room}:serving             positions up to this one are admitted
-- KEYS[4] queue:{room}:status              'closed' once no slot is left anywhere
-- KEYS[5] queue:{room}:epoch               the open epoch: id, openedAt, expiresAt, maxSize
-- Returns {'placed', epoch, position, newly queued (1/0), serving, open (1/0)},
-- {'not_open'} or {'full', maxSize}.
local epoch = redis.call('HMGET', KEYS[5], 'id', 'expiresAt', 'maxSize')
if not epoch[1] then
  return {'not_open'}
end
local id, expires, max_size = epoch[1], epoch[2], tonumber(epoch[3])
local position, newly = nil, 0
local held = redis.call('GET', KEYS[1])
if held then
  local held_epoch, held_position = string.match(held, '^(%d+):(%d+)$')
  if held_epoch == id then
    position = tonumber(held_position)
  end
end
if not position then
  if tonumber(redis.call('GET', KEYS[2]) or '0') >= max_size then
    return {'full', max_size}
  end
  position = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], id .. ':' .. position, 'PXAT', expires)
  newly = 1
end
local serving, open = standing(KEYS[3], KEYS[4])
return {'placed', id, position, newly, serving, open}
