-- mark_unsettled(unsettled, person, now): puts the person on a station's work list with a
-- score no earlier step holds (now, or one past the entry they had), so that a settle of an
-- older entry, decided before, leaves it in place. Returns the score and the score before
-- (nil when the person had no entry). Shared by mark_for_cancel.lua and hold_move.lua.
local function mark_unsettled(unsettled, person, now)
  local before = redis.call('ZSCORE', unsettled, person)
  local score = tonumber(now)
  if before and tonumber(before) >= score then
    score = tonumber(before) + 1
  end
  redis.call('ZADD', unsettled, score, person)
  return score, before
end

