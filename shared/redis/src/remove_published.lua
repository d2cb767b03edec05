-- Removes published entries from an outbox stream, and their bytes with them. XDEL only marks
-- an entry deleted: its fields (a name, an address) stay in the stream's node, in memory, in
-- DUMP and in RDB backups, until every entry of that node is gone. So while few entries still
-- wait, the stream is written anew with only those, under their own ids, and its last id,
-- added-entries count and last deleted id as before; a longer backlog (a broker outage) is
-- rewritten once it has shrunk that far.
-- KEYS[1] an outbox stream   ARGV[1] the most waiting entries to rewrite
-- ARGV[2..] the published entries' ids
-- Returns how many entries were removed.
local removed = redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
local waiting = redis.call('XLEN', KEYS[1])
-- With none waiting, XDEL has freed every node already.
if removed == 0 or waiting == 0 or waiting > tonumber(ARGV[1]) then
  return removed
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local kept = {}
for i = 1, #info, 2 do
  kept[info[i]] = info[i + 1]
end
local entries = redis.call('XRANGE', KEYS[1], '-', '+')
redis.call('DEL', KEYS[1])
for _, entry in ipairs(entries) do
  redis.call('XADD', KEYS[1], entry[1], unpack(entry[2]))
end
redis.call('XSETID', KEYS[1], kept['last-generated-id'], 'ENTRIESADDED', kept['entries-added'],
  'MAXDELETEDID', kept['max-deleted-entry-id'])
return removed
