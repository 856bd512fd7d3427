-- Create or update one registrant of a meeting, giving it a display name unique in the meeting.
--
-- KEYS[1]  meeting hash (must exist: its expire_at sets every TTL)
-- KEYS[2]  registrant hash
-- KEYS[3]  display-name index: hash display name -> registrant id
-- KEYS[4]  Zoom registrant_id index: hash Zoom registrant_id -> registrant id
-- KEYS[5]  roster: sorted set registrant id -> order of first issue
-- ARGV[1]  registrant id      ARGV[2]  email       ARGV[3]  name
-- ARGV[4]  Zoom registrant_id ("" keeps what is stored)
-- ARGV[5]  join_url ("" keeps what is stored)
-- ARGV[6]  now, unix seconds
--
-- Returns {version, display name, 1 if created else 0}; error NOMEETING if KEYS[1] is missing.
-- A changed name releases the old display name and takes the first free of
-- "name", "name (2)", "name (3)", ... so the same file always gives the same names.
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if not expire_at then return redis.error_reply('NOMEETING') end
local rid, name = ARGV[1], ARGV[3]
local created = 0
local stored = redis.call('HMGET', KEYS[2], 'name', 'display', 'ver', 'zid')
local display = stored[2]
if not stored[1] then
  created = 1
  redis.call('HSET', KEYS[2], 'email', ARGV[2], 'ver', 1, 'created', ARGV[6])
  redis.call('ZADD', KEYS[5], 'NX', redis.call('ZCARD', KEYS[5]) + 1, rid)
end
if stored[1] ~= name or not display then
  if display and redis.call('HGET', KEYS[3], display) == rid then
    redis.call('HDEL', KEYS[3], display)
  end
  display = name
  local n = 1
  while redis.call('HSETNX', KEYS[3], display, rid) == 0
      and redis.call('HGET', KEYS[3], display) ~= rid do
    n = n + 1
    display = name .. ' (' .. n .. ')'
  end
  redis.call('HSET', KEYS[2], 'name', name, 'display', display)
end
if ARGV[4] ~= '' and ARGV[4] ~= stored[4] then
  if stored[4] and redis.call('HGET', KEYS[4], stored[4]) == rid then
    redis.call('HDEL', KEYS[4], stored[4])
  end
  redis.call('HSET', KEYS[2], 'zid', ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[4], rid)
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], 'join_url', ARGV[5]) end
for i = 2, 5 do redis.call('EXPIREAT', KEYS[i], expire_at) end
return {tonumber(stored[3] or 1), display, created}
