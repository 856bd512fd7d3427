-- Record one verified participant_joined / participant_left delivery, in one round trip:
-- drop a delivery seen before, match the participant to a registrant, update the stay, and
-- schedule the sharing check when the registrant now has two stays open in this instance.
--
-- KEYS[1]  meeting hash                 KEYS[2]  seen deliveries (set of digests)
-- KEYS[3]  stays of this instance: hash stay key -> JSON {r, n, u, j, l, x (only when 1)}
-- KEYS[4]  stays by registrant in this instance: hash registrant id -> stay keys, "\n"-joined
-- KEYS[5]  instances: hash instance uuid -> start time
-- KEYS[6]  Zoom registrant_id index     KEYS[7]  display-name index
-- KEYS[8]  staff: set of casefolded names and emails never flagged
-- KEYS[9]  registrant hash named by customer_key (may not exist)
-- KEYS[10] registrant hash named by the participant's email (may not exist)
-- KEYS[11] meeting event stream         KEYS[12] sharing checks: zset "uuid\trid" -> due time
-- ARGV[1]  delivery digest     ARGV[2]  joined | left        ARGV[3]  stay key
-- ARGV[4]  instance uuid       ARGV[5]  Zoom registrant_id   ARGV[6]  customer_key as an id
-- ARGV[7]  user_name           ARGV[8]  registrant id derived from the email
-- ARGV[9]  join or leave time (unix s)   ARGV[10] 1 if the participant is the host
-- ARGV[11] participant_uuid    ARGV[12] casefolded user_name   ARGV[13] casefolded email
-- ARGV[14] now                 ARGV[15] sharing grace (s)      ARGV[16] event stream cap
--
-- Returns {status, registrant id or "", open stays of that registrant in this instance}:
--   unknown_meeting  no meeting hash; nothing written
--   duplicate        the digest was seen before; nothing written
--   recorded         the digest is added to the seen set; the stay is written (r: the matched
--                    registrant id, or "" for nobody; n, u; j or l; x=1 for the host and staff,
--                    and once set it stays); the instance is noted (HSETNX, time = now); the
--                    stay key is listed under its registrant; a joined stay of a non-exempt
--                    registrant with 2 or more open non-exempt stays schedules a sharing check
--                    at now + grace (ZADD NX); one event is logged: kind joined | left, or
--                    unmatched for a joined stay with no registrant that is not exempt.
-- Matching order: registrant_id, customer_key, the display name joingate gave, email; a stay
-- matched before keeps its registrant when a later delivery matches nobody.
-- Every key written moves to the meeting's expire_at (indexes and registrants are only read).
local meeting_key, seen_key, stays_key = KEYS[1], KEYS[2], KEYS[3]
local stays_by_registrant_key, instances_key = KEYS[4], KEYS[5]
local zoom_ids_key, displays_key, staff_key = KEYS[6], KEYS[7], KEYS[8]
local customer_registrant_key, email_registrant_key = KEYS[9], KEYS[10]
local events_key, checks_key = KEYS[11], KEYS[12]
local digest, kind, stay_key, instance = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local zoom_registrant_id, customer_rid = ARGV[5], ARGV[6]
local user_name, email_rid = ARGV[7], ARGV[8]
local at_text, is_host, participant_uuid = ARGV[9], ARGV[10] == '1', ARGV[11]
local name_key, email_key = ARGV[12], ARGV[13]
local now_text, grace, stream_cap = ARGV[14], tonumber(ARGV[15]), ARGV[16]

local expire_at = redis.call('HGET', meeting_key, 'expire_at')
if not expire_at then return {'unknown_meeting', '', 0} end
if redis.call('SADD', seen_key, digest) == 0 then return {'duplicate', '', 0} end

local rid = false
if zoom_registrant_id ~= '' then rid = redis.call('HGET', zoom_ids_key, zoom_registrant_id) end
if not rid and customer_rid ~= '' and redis.call('EXISTS', customer_registrant_key) == 1 then
  rid = customer_rid
end
if not rid and user_name ~= '' then rid = redis.call('HGET', displays_key, user_name) end
if not rid and email_rid ~= '' and redis.call('EXISTS', email_registrant_key) == 1 then
  rid = email_rid
end
rid = rid or ''
local exempt = is_host
  or (name_key ~= '' and redis.call('SISMEMBER', staff_key, name_key) == 1)
  or (email_key ~= '' and redis.call('SISMEMBER', staff_key, email_key) == 1)

local joined, at = kind == 'joined', tonumber(at_text)
local raw = redis.call('HGET', stays_key, stay_key)
local stay = raw and cjson.decode(raw) or {}
stay.n = user_name
stay.u = participant_uuid
if rid ~= '' or not stay.r then stay.r = rid end
if exempt or stay.x == 1 then stay.x = 1 else stay.x = nil end
if joined then stay.j = at else stay.l = at end
redis.call('HSET', stays_key, stay_key, cjson.encode(stay))
redis.call('HSETNX', instances_key, instance, now_text)

local open = 0
if stay.r ~= '' then
  local listed = redis.call('HGET', stays_by_registrant_key, stay.r) or ''
  if not string.find('\n' .. listed .. '\n', '\n' .. stay_key .. '\n', 1, true) then
    listed = (listed == '') and stay_key or (listed .. '\n' .. stay_key)
    redis.call('HSET', stays_by_registrant_key, stay.r, listed)
  end
  for other in string.gmatch(listed, '[^\n]+') do
    local s = cjson.decode(redis.call('HGET', stays_key, other) or '{}')
    if s.j and not s.l and s.x ~= 1 then open = open + 1 end
  end
  if joined and open >= 2 and stay.x ~= 1 then
    redis.call('ZADD', checks_key, 'NX', tonumber(now_text) + grace, instance .. '\t' .. stay.r)
  end
end

local logged = kind
if joined and stay.r == '' and stay.x ~= 1 then logged = 'unmatched' end
redis.call('XADD', events_key, 'MAXLEN', '~', stream_cap, '*', 'kind', logged,
           'registrant', stay.r, 'at', at_text, 'instance', instance, 'name', user_name,
           'participant', participant_uuid)
for _, key in ipairs({seen_key, stays_key, stays_by_registrant_key, instances_key, staff_key,
                      events_key, checks_key}) do
  redis.call('EXPIREAT', key, expire_at)
end
return {'recorded', stay.r, open}
