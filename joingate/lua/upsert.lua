-- Create or update a batch of registrants of one meeting, giving each a display name unique in
-- the meeting. One call per batch: one round trip, atomic, and one Cluster slot (hash tag).
--
-- KEYS[1]  meeting hash (must exist: its expire_at sets every TTL)
-- KEYS[2]  display-name index: hash display name -> registrant id
-- KEYS[3]  Zoom registrant_id index: hash Zoom registrant_id -> registrant id
-- KEYS[4]  roster: list of registrant ids in order of first issue (a list costs ~20 bytes per
--          registrant where a sorted set cost ~130; one stored as a sorted set by an earlier
--          version is turned into the list here first)
-- KEYS[4+i] the hash of the i-th registrant of the batch
-- ARGV[1+5(i-1) .. 5+5(i-1)]  the i-th registrant: id, email, name,
--          Zoom registrant_id ("" keeps what is stored), join_url ("" keeps what is stored)
--
-- Returns {version, display name, 1 if created else 0} per registrant, flattened; error
-- NOMEETING if KEYS[1] is missing. A changed name releases the old display name and takes the
-- first free of "name", "name (2)", "name (3)", ... so the same file always gives the same names.
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if not expire_at then return redis.error_reply('NOMEETING') end
if redis.call('TYPE', KEYS[4]).ok == 'zset' then
  local ids = redis.call('ZRANGE', KEYS[4], 0, -1)
  redis.call('DEL', KEYS[4])
  for first = 1, #ids, 1000 do
    redis.call('RPUSH', KEYS[4], unpack(ids, first, math.min(first + 999, #ids)))
  end
end
local out = {}
for i = 1, #KEYS - 4 do
  local key, base = KEYS[4 + i], 5 * (i - 1)
  local rid, email, name, zid, join_url =
    ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4], ARGV[base + 5]
  local created = 0
  local stored = redis.call('HMGET', key, 'name', 'display', 'ver', 'zid')
  local display = stored[2]
  if not stored[1] then
    created = 1
    redis.call('HSET', key, 'email', email, 'ver', 1)
    redis.call('RPUSH', KEYS[4], rid)
  end
  if stored[1] ~= name or not display then
    if display and redis.call('HGET', KEYS[2], display) == rid then
      redis.call('HDEL', KEYS[2], display)
    end
    display = name
    local n = 1
    while redis.call('HSETNX', KEYS[2], display, rid) == 0
        and redis.call('HGET', KEYS[2], display) ~= rid do
      n = n + 1
      display = name .. ' (' .. n .. ')'
    end
    redis.call('HSET', key, 'name', name, 'display', display)
  end
  if zid ~= '' and zid ~= stored[4] then
    if stored[4] and redis.call('HGET', KEYS[3], stored[4]) == rid then
      redis.call('HDEL', KEYS[3], stored[4])
    end
    redis.call('HSET', key, 'zid', zid)
    redis.call('HSET', KEYS[3], zid, rid)
  end
  if join_url ~= '' then redis.call('HSET', key, 'join_url', join_url) end
  redis.call('EXPIREAT', key, expire_at)
  out[#out + 1] = tonumber(stored[3] or 1)
  out[#out + 1] = display
  out[#out + 1] = created
end
for i = 2, 4 do redis.call('EXPIREAT', KEYS[i], expire_at) end
return out
