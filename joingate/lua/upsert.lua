-- Create or update a batch of registrants of one meeting, giving each a display name unique in
-- the meeting. One call per batch: one round trip, atomic, and one Cluster slot (hash tag).
--
-- KEYS[1]  meeting hash (must exist: its expire_at sets every TTL)
-- KEYS[2]  display-name index: hash display name -> registrant id
-- KEYS[3]  Zoom registrant_id index: hash Zoom registrant_id -> registrant id
-- KEYS[4]  roster: list of registrant ids in order of first issue (a list costs ~20 bytes per
--          registrant where a sorted set cost ~130; one stored as a sorted set by an earlier
--          version is turned into the list here first)
-- KEYS[5]  name suffixes: hash name -> the highest n given as "name (n)" in this meeting
-- KEYS[5+i] the hash of the i-th registrant of the batch
-- ARGV[1+5(i-1) .. 5+5(i-1)]  the i-th registrant: id, email, name,
--          Zoom registrant_id ("" keeps what is stored), join_url ("" keeps what is stored)
--
-- Returns {version, display name, 1 if created else 0} per registrant, flattened; error
-- NOMEETING if KEYS[1] is missing (nothing written). A new registrant gets ver 1, its email and
-- the next place in the roster. A registrant whose name is unchanged keeps its display name
-- (re-issuing a file changes no name). A new or changed name releases the old display name and
-- takes "name" when it is free, else "name (n)" for the first free n above the highest suffix
-- given for that name: O(1) per row however many share a name (each n is tried at most once
-- per meeting), so a file gives the same names in a fresh meeting whatever the batch size.
-- A Zoom registrant_id moves the Zoom index entry; a join_url is stored. Every key named here
-- moves to the meeting's expire_at.
local meeting_key, displays_key, zoom_ids_key, roster_key, suffixes_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local KEYS_BEFORE_REGISTRANTS, ARGS_PER_REGISTRANT = 5, 5

local expire_at = redis.call('HGET', meeting_key, 'expire_at')
if not expire_at then return redis.error_reply('NOMEETING') end
if redis.call('TYPE', roster_key).ok == 'zset' then
  local ids = redis.call('ZRANGE', roster_key, 0, -1)
  redis.call('DEL', roster_key)
  for first = 1, #ids, 1000 do
    redis.call('RPUSH', roster_key, unpack(ids, first, math.min(first + 999, #ids)))
  end
end

-- True when `display` is (now) the display name of `rid`.
local function take(display, rid)
  return redis.call('HSETNX', displays_key, display, rid) == 1
    or redis.call('HGET', displays_key, display) == rid
end

-- The display name `rid` gets for `name`. The suffix counter only grows, so a taken "name (n)"
-- is probed at most once; a meeting from before the counter (or a name such as "Guest (2)"
-- given as is) costs one scan past the names already taken, once.
local function unique_display(name, rid)
  if take(name, rid) then return name end
  local n = tonumber(redis.call('HGET', suffixes_key, name) or 1)
  local display
  repeat
    n = n + 1
    display = name .. ' (' .. n .. ')'
  until take(display, rid)
  redis.call('HSET', suffixes_key, name, n)
  return display
end

local out = {}
for i = 1, #KEYS - KEYS_BEFORE_REGISTRANTS do
  local registrant_key = KEYS[KEYS_BEFORE_REGISTRANTS + i]
  local first = ARGS_PER_REGISTRANT * (i - 1)
  local rid, email, name, zoom_registrant_id, join_url =
    ARGV[first + 1], ARGV[first + 2], ARGV[first + 3], ARGV[first + 4], ARGV[first + 5]

  local created = 0
  local stored = redis.call('HMGET', registrant_key, 'name', 'display', 'ver', 'zid')
  local stored_name, display, version, stored_zoom_id = stored[1], stored[2], stored[3], stored[4]
  if not stored_name then
    created = 1
    redis.call('HSET', registrant_key, 'email', email, 'ver', 1)
    redis.call('RPUSH', roster_key, rid)
  end
  if stored_name ~= name or not display then
    if display and redis.call('HGET', displays_key, display) == rid then
      redis.call('HDEL', displays_key, display)
    end
    display = unique_display(name, rid)
    redis.call('HSET', registrant_key, 'name', name, 'display', display)
  end
  if zoom_registrant_id ~= '' and zoom_registrant_id ~= stored_zoom_id then
    if stored_zoom_id and redis.call('HGET', zoom_ids_key, stored_zoom_id) == rid then
      redis.call('HDEL', zoom_ids_key, stored_zoom_id)
    end
    redis.call('HSET', registrant_key, 'zid', zoom_registrant_id)
    redis.call('HSET', zoom_ids_key, zoom_registrant_id, rid)
  end
  if join_url ~= '' then redis.call('HSET', registrant_key, 'join_url', join_url) end
  redis.call('EXPIREAT', registrant_key, expire_at)
  out[#out + 1] = tonumber(version or 1)
  out[#out + 1] = display
  out[#out + 1] = created
end
for _, key in ipairs({displays_key, zoom_ids_key, roster_key, suffixes_key}) do
  redis.call('EXPIREAT', key, expire_at)
end
return out
