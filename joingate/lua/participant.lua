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
-- Returns {status, registrant id or "", open stays of that registrant in this instance};
-- status: recorded | duplicate | unknown_meeting. Matching order: registrant_id, customer_key,
-- the display name joingate gave, email.
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if not expire_at then return {'unknown_meeting', '', 0} end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return {'duplicate', '', 0} end

local rid = false
if ARGV[5] ~= '' then rid = redis.call('HGET', KEYS[6], ARGV[5]) end
if not rid and ARGV[6] ~= '' and redis.call('EXISTS', KEYS[9]) == 1 then rid = ARGV[6] end
if not rid and ARGV[7] ~= '' then rid = redis.call('HGET', KEYS[7], ARGV[7]) end
if not rid and ARGV[8] ~= '' and redis.call('EXISTS', KEYS[10]) == 1 then rid = ARGV[8] end
rid = rid or ''
local exempt = ARGV[10] == '1'
  or (ARGV[12] ~= '' and redis.call('SISMEMBER', KEYS[8], ARGV[12]) == 1)
  or (ARGV[13] ~= '' and redis.call('SISMEMBER', KEYS[8], ARGV[13]) == 1)

local key, joined, at = ARGV[3], ARGV[2] == 'joined', tonumber(ARGV[9])
local raw = redis.call('HGET', KEYS[3], key)
local stay = raw and cjson.decode(raw) or {}
stay.n = ARGV[7]
stay.u = ARGV[11]
if rid ~= '' or not stay.r then stay.r = rid end
if exempt or stay.x == 1 then stay.x = 1 else stay.x = nil end
if joined then stay.j = at else stay.l = at end
redis.call('HSET', KEYS[3], key, cjson.encode(stay))
redis.call('HSETNX', KEYS[5], ARGV[4], ARGV[14])

local open = 0
if stay.r ~= '' then
  local listed = redis.call('HGET', KEYS[4], stay.r) or ''
  if not string.find('\n' .. listed .. '\n', '\n' .. key .. '\n', 1, true) then
    listed = (listed == '') and key or (listed .. '\n' .. key)
    redis.call('HSET', KEYS[4], stay.r, listed)
  end
  for other in string.gmatch(listed, '[^\n]+') do
    local s = cjson.decode(redis.call('HGET', KEYS[3], other) or '{}')
    if s.j and not s.l and s.x ~= 1 then open = open + 1 end
  end
  if joined and open >= 2 and stay.x ~= 1 then
    redis.call('ZADD', KEYS[12], 'NX', tonumber(ARGV[14]) + tonumber(ARGV[15]),
               ARGV[4] .. '\t' .. stay.r)
  end
end

local kind = ARGV[2]
if joined and stay.r == '' and stay.x ~= 1 then kind = 'unmatched' end
redis.call('XADD', KEYS[11], 'MAXLEN', '~', ARGV[16], '*', 'kind', kind, 'registrant', stay.r,
           'at', ARGV[9], 'instance', ARGV[4], 'name', ARGV[7], 'participant', ARGV[11])
for i = 2, 12 do
  if i ~= 6 and i ~= 7 and i ~= 9 and i ~= 10 then redis.call('EXPIREAT', KEYS[i], expire_at) end
end
return {'recorded', stay.r, open}
