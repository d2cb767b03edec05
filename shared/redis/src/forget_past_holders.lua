-- Retention, on the station's shard: one page of the station's holders (person ID -> holdId|date,
-- personal data) loses the entries of dates before ARGV[1]; once the whole hash has been paged
-- through, those dates' held counts go too (see forget_past_dates.lua). A page at a time, so a
-- station of hundreds of thousands of holders never blocks Redis for long.
-- KEYS[1] holders:{L}   KEYS[2] held:{L}   ARGV[1] the first date kept   ARGV[2] HSCAN cursor
-- ARGV[3] entries per page (HSCAN's COUNT hint)
-- Returns {next cursor ('0' when done), entries removed}.
local page = redis.call('HSCAN', KEYS[1], ARGV[2], 'COUNT', ARGV[3])
local removed = 0
for i = 1, #page[2], 2 do
  local hold = page[2][i + 1]
  local bar = string.find(hold, '|', 1, true)
  if bar and string.sub(hold, bar + 1) < ARGV[1] then
    redis.call('HDEL', KEYS[1], page[2][i])
    removed = removed + 1
  end
end
if page[1] == '0' then
  for _, date in ipairs(redis.call('HKEYS', KEYS[2])) do
    if date < ARGV[1] then
      redis.call('HDEL', KEYS[2], date)
    end
  end
end
return {page[1], removed}
