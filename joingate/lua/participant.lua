-- Record one verified participant_joined / participant_left delivery, in one round trip: drop a
-- delivery seen before, and add what it says to its stay. Nothing is attributed here: who a stay
-- is (which registrant, on what evidence) is derived when the report is read, from every
-- identifier the stay ever carried, so a later or weaker event never moves a stay and a
-- registrant imported later is still found.
--
-- KEYS[1]  meeting hash (its expire_at sets every TTL)
-- KEYS[2]  seen deliveries: set of digests
-- KEYS[3]  stays of this instance: hash stay key -> JSON
--          {j: [join times], l: [leave times], n: name of the earliest delivery, nt: its time,
--           rn: a later other name, zr: Zoom registrant_id, ck: customer_key, em: email,
--           id: Zoom user id (participant.id), pu: participant_uuid, h: 1 for the host}
-- KEYS[4]  instances: hash instance uuid -> start time (the first we heard of it)
-- KEYS[5]  meeting event stream
-- ARGV[1]  delivery digest      ARGV[2]  joined | left         ARGV[3]  stay key
-- ARGV[4]  instance uuid        ARGV[5]  join or leave time (unix s)
-- ARGV[6]  now (unix s)
-- ARGV[7]  user_name            ARGV[8]  participant_uuid      ARGV[9]  Zoom registrant_id
-- ARGV[10] customer_key         ARGV[11] email                 ARGV[12] Zoom user id
-- ARGV[13] 1 if the participant is the host, else 0
--
-- Returns 'recorded', 'duplicate' or 'unknown_meeting' (nothing written for the last two).
local meeting_key, seen_key, stays_key, instances_key, events_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local digest, kind, stay_key, instance = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local at, now = tonumber(ARGV[5]), ARGV[6]
local user_name, participant_uuid = ARGV[7], ARGV[8]
local identifiers = {zr = ARGV[9], ck = ARGV[10], em = ARGV[11], id = ARGV[12]}
local is_host = ARGV[13] == '1'

local expire_at = redis.call('HGET', meeting_key, 'expire_at')
if not expire_at then return 'unknown_meeting' end
if redis.call('SADD', seen_key, digest) == 0 then return 'duplicate' end

local raw = redis.call('HGET', stays_key, stay_key)
local stay = raw and cjson.decode(raw) or {}

-- Every time is kept once: a second join of the same key is a new interval, not an overwrite.
local function add_time(field)
  local times = stay[field] or {}
  for _, t in ipairs(times) do
    if t == at then return end
  end
  times[#times + 1] = at
  stay[field] = times
end
add_time(kind == 'joined' and 'j' or 'l')

-- The first non-empty value of each identifier is the stay's.
for field, value in pairs(identifiers) do
  if value ~= '' and (stay[field] == nil or stay[field] == '') then stay[field] = value end
end
if participant_uuid ~= '' and (stay.pu == nil or stay.pu == '') then stay.pu = participant_uuid end

-- The name of the earliest delivery (by Zoom's time, whatever the order of arrival) is the
-- stay's name; a rename is kept apart and never changes who the stay is.
if user_name ~= '' then
  if stay.nt == nil or at < stay.nt then
    if stay.n and stay.n ~= user_name then stay.rn = stay.n end
    stay.n, stay.nt = user_name, at
  elseif user_name ~= stay.n then
    stay.rn = user_name
  end
end
if is_host then stay.h = 1 end

redis.call('HSET', stays_key, stay_key, cjson.encode(stay))
redis.call('HSETNX', instances_key, instance, now)
redis.call('XADD', events_key, '*', 'kind', kind, 'at', ARGV[5],
           'instance', instance, 'stay', stay_key, 'name', user_name,
           'participant', participant_uuid)
for _, key in ipairs({seen_key, stays_key, instances_key, events_key}) do
  redis.call('EXPIREAT', key, expire_at)
end
return 'recorded'
