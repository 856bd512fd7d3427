-- Open or claim one link in one round trip: check the link's state and the meeting's window,
-- bind the link to a device on the first claim, count, and log.
--
-- KEYS[1]  meeting hash
-- KEYS[2]  registrant hash
-- KEYS[3]  meeting event stream (also each link's history: its id is the time)
-- KEYS[4]  user agents of the meeting: hash short id -> user agent (each stored once)
-- ARGV[1]  mode: "open" (GET/HEAD: records the open, binds nothing) or "claim" (POST)
-- ARGV[2]  link version named by the token
-- ARGV[3]  now, unix seconds
-- ARGV[4]  device id from the browser's verified cookie, or ""
-- ARGV[5]  device id to bind when the link has room for one more device
-- ARGV[6]  client IP             ARGV[7]  user agent (both already cleaned of tabs)
-- ARGV[8]  event stream cap (approximate)
-- ARGV[9]  short id of the user agent ("" when there is none); events carry the id
--
-- Returns {outcome, detail, meeting fields, {display, join_url}}; the meeting fields are
-- HMGET of: start open_before duration close_after expire_at max_devices rejoin target pwd topic
-- support auto_submit (store.GATE_MEETING_FIELDS, same order). outcome is one of
-- unknown, superseded, revoked, too_early (detail: opening time), expired (detail: closing time),
-- confirm, used_elsewhere, claimed, rejoined. Nothing but the open is written unless the outcome
-- is claimed or rejoined, or the link is bound to another device: then the open or claim is
-- counted as refused and logged as refused_open or refused.
local mode, version, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local meeting = redis.call('HMGET', KEYS[1], 'start', 'open_before', 'duration', 'close_after',
                           'expire_at', 'max_devices', 'rejoin', 'target', 'pwd', 'topic',
                           'support', 'auto_submit')
if not meeting[1] then return {'unknown', '', {}, {}} end
local m = {start = meeting[1], open_before = meeting[2], duration = meeting[3],
           close_after = meeting[4], expire_at = meeting[5], max_devices = meeting[6],
           rejoin = meeting[7]}
local reg = redis.call('HMGET', KEYS[2], 'ver', 'revoked', 'devices', 'display', 'join_url')
if not reg[1] then return {'unknown', '', {}, {}} end
local shown = {reg[4], reg[5] or ''}
if reg[1] ~= version then return {'superseded', reg[1], meeting, shown} end
if reg[2] == '1' then return {'revoked', '', meeting, shown} end

local start = tonumber(m.start)
local opens_at = start - tonumber(m.open_before)
local closes_at = start + tonumber(m.duration) * 60 + tonumber(m.close_after)
if now > closes_at then return {'expired', tostring(closes_at), meeting, shown} end

local expire_at = m.expire_at
-- EXPIREAT ... NX: a key that has its expiry (upsert and save_meeting set and move them) is
-- not written again, so nothing more goes to the append-only file and the replicas.
local function log(kind)
  if ARGV[9] ~= '' then
    redis.call('HSETNX', KEYS[4], ARGV[9], ARGV[7])
    redis.call('EXPIREAT', KEYS[4], expire_at, 'NX')
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'kind', kind,
             'registrant', string.match(KEYS[2], '[^:]+$'), 'ip', ARGV[6], 'ua', ARGV[9])
  redis.call('EXPIREAT', KEYS[2], expire_at, 'NX')
  redis.call('EXPIREAT', KEYS[3], expire_at, 'NX')
end

local devices = reg[3] or ''
local presented = ARGV[4]
local bound_here = presented ~= '' and string.find(' ' .. devices .. ' ', ' ' .. presented .. ' ', 1, true) ~= nil
local count = 0
for _ in string.gmatch(devices, '%S+') do count = count + 1 end
local room = count < tonumber(m.max_devices)

if mode == 'open' then
  redis.call('HINCRBY', KEYS[2], 'opens', 1)
  if now < opens_at then
    log('open')
    return {'too_early', tostring(opens_at), meeting, shown}
  end
  if bound_here or room then
    log('open')
    return {'confirm', '', meeting, shown}
  end
  -- Another browser opened a link bound elsewhere: a refused attempt, as a refused claim is.
  redis.call('HINCRBY', KEYS[2], 'refused', 1)
  log('refused_open')
  return {'used_elsewhere', '', meeting, shown}
end

if now < opens_at then return {'too_early', tostring(opens_at), meeting, shown} end
if bound_here and m.rejoin ~= '0' then
  redis.call('HINCRBY', KEYS[2], 'claims', 1)
  log('rejoin')
  return {'rejoined', presented, meeting, shown}
end
if room and not bound_here then
  local device = ARGV[5]
  if devices == '' then devices = device else devices = devices .. ' ' .. device end
  redis.call('HSET', KEYS[2], 'devices', devices)
  redis.call('HSETNX', KEYS[2], 'first_claim', math.floor(now))
  redis.call('HINCRBY', KEYS[2], 'claims', 1)
  log('claim')
  return {'claimed', device, meeting, shown}
end
redis.call('HINCRBY', KEYS[2], 'refused', 1)
log('refused')
return {'used_elsewhere', '', meeting, shown}
