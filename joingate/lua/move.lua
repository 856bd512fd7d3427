-- Moving a link to a new device by an emailed code: ask, store the code's digest, try a code,
-- move. One round trip each; every step is logged to the meeting's event stream (the link's
-- history and the organizer's feed).
--
-- KEYS[1]  meeting hash              KEYS[2]  registrant hash
-- KEYS[3]  meeting event stream      KEYS[4]  user agents of the meeting (short id -> agent)
-- KEYS[5]  the registrant's move code: hash {device, req, expires, tries, digest, sent}
-- KEYS[6]  the link's overflow list (gate.lua): its events past its feed budget
-- ARGV[1]  action: request | code | attempt | apply | log
-- ARGV[2]  now (unix seconds)
-- ARGV[3]  client IP ("" for the worker)   ARGV[4] user agent   ARGV[5] its short id ("" none)
--
-- request  ARGV[6] link version, ARGV[7] device presented by the browser ("" none), ARGV[8]
--          device to move to, ARGV[9] request id, ARGV[10] seconds the code lives, ARGV[11]
--          most code requests per registrant per meeting
--          -> {outcome, email}; outcome: ok, unknown, superseded, revoked, expired, unbound
--          (nothing to move: claim), bound_here (this device is bound: claim), off (the meeting's
--          max_moves is 0), limit (moves used up), too_many (code requests used up)
-- code     ARGV[6] request id, ARGV[7] digest of the code -> {1, email, name} when that
--          request is still the one waiting (its digest is stored), else {0}
-- attempt  ARGV[6] device presented -> {outcome, digest, tries}: ok (compare the code with
--          digest: this try is already counted), none (no code, or it expired), other_device,
--          locked (5 tries used), waiting (the code is not sent yet)
-- apply    ARGV[6] device, ARGV[7] digest that matched -> {outcome}: moved (the binding is now
--          that device alone, moves + 1, the code deleted), none, limit
-- log      ARGV[6] kind (move_code_sent, move_code_failed, move_refused), ARGV[7] note
--          (why) -> 1
-- Every action ends with two more ARGV: the feed budget of a link's move events (counted by the
-- registrant's `move_logs`, which an organizer's reset, restore or reissue starts again:
-- manage.lua) and the overflow cap (store.LINK_FEED_BUDGET, LINK_OVERFLOW_CAP).
local action, now = ARGV[1], tonumber(ARGV[2])
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if not expire_at or redis.call('EXISTS', KEYS[2]) == 0 then return {'unknown', ''} end
local rid = string.match(KEYS[2], '[^:]+$')
local MAX_TRIES = 5

-- A link's move events are budgeted as its gate events are (gate.lua): the first feed_budget
-- go to the feed and the user-agent table, later ones to the link's overflow list (capped).
local feed_budget, overflow_cap = tonumber(ARGV[#ARGV - 1]), tonumber(ARGV[#ARGV])

local function log(kind, note)
  if redis.call('HINCRBY', KEYS[2], 'move_logs', 1) <= feed_budget then
    if ARGV[5] ~= '' then
      redis.call('HSETNX', KEYS[4], ARGV[5], ARGV[4])
      redis.call('EXPIREAT', KEYS[4], expire_at)
    end
    redis.call('XADD', KEYS[3], '*', 'kind', kind, 'registrant', rid,
               'ip', ARGV[3], 'ua', ARGV[5], 'note', note or '')
    redis.call('EXPIREAT', KEYS[3], expire_at)
  else
    local time = redis.call('TIME')
    redis.call('RPUSH', KEYS[6], time[1] .. '.' .. string.format('%06d', tonumber(time[2])) ..
               '\t' .. kind .. '\t' .. ARGV[3] .. '\t' .. ARGV[4])
    redis.call('LTRIM', KEYS[6], -overflow_cap, -1)
    redis.call('EXPIREAT', KEYS[6], expire_at)
  end
end

if action == 'request' then
  local version, presented, device = ARGV[6], ARGV[7], ARGV[8]
  local reg = redis.call('HMGET', KEYS[2], 'ver', 'revoked', 'devices', 'email', 'moves',
                         'move_requests')
  local m = redis.call('HMGET', KEYS[1], 'start', 'duration', 'close_after', 'max_moves')
  if reg[1] ~= version then return {'superseded', ''} end
  if reg[2] == '1' then return {'revoked', ''} end
  if now > tonumber(m[1]) + tonumber(m[2]) * 60 + tonumber(m[3]) then return {'expired', ''} end
  local devices = reg[3] or ''
  if devices == '' then return {'unbound', ''} end
  if presented ~= '' and string.find(' ' .. devices .. ' ', ' ' .. presented .. ' ', 1, true)
  then return {'bound_here', ''} end
  local max_moves = tonumber(m[4] or '2')
  if max_moves == 0 then return {'off', ''} end
  if tonumber(reg[5] or '0') >= max_moves then return {'limit', reg[4]} end
  if tonumber(reg[6] or '0') >= tonumber(ARGV[11]) then return {'too_many', reg[4]} end
  redis.call('DEL', KEYS[5])
  redis.call('HSET', KEYS[5], 'device', device, 'req', ARGV[9], 'tries', 0,
             'expires', now + tonumber(ARGV[10]), 'digest', '')
  redis.call('EXPIRE', KEYS[5], tonumber(ARGV[10]))
  redis.call('HINCRBY', KEYS[2], 'move_requests', 1)
  redis.call('EXPIREAT', KEYS[2], expire_at)
  log('move_requested')
  return {'ok', reg[4]}
end

if action == 'code' then
  if redis.call('HGET', KEYS[5], 'req') ~= ARGV[6] then return {0} end
  redis.call('HSET', KEYS[5], 'digest', ARGV[7], 'sent', now)
  local reg = redis.call('HMGET', KEYS[2], 'email', 'name')
  return {1, reg[1], reg[2] or ''}
end

if action == 'attempt' then
  local code = redis.call('HMGET', KEYS[5], 'device', 'digest', 'tries', 'expires')
  if not code[1] or now > tonumber(code[4]) then return {'none', '', 0} end
  if code[1] ~= ARGV[6] then return {'other_device', '', 0} end
  if tonumber(code[3]) >= MAX_TRIES then return {'locked', '', tonumber(code[3])} end
  if code[2] == '' then return {'waiting', '', tonumber(code[3])} end
  -- Counted before the code is compared: parallel guesses cannot share one try.
  local tries = redis.call('HINCRBY', KEYS[5], 'tries', 1)
  return {'ok', code[2], tries}
end

if action == 'log' then
  log(ARGV[6], ARGV[7])
  return 1
end

if action == 'apply' then
  local code = redis.call('HMGET', KEYS[5], 'device', 'digest')
  if code[1] ~= ARGV[6] or code[2] ~= ARGV[7] or ARGV[7] == '' then return {'none'} end
  local max_moves = tonumber(redis.call('HGET', KEYS[1], 'max_moves') or '2')
  if tonumber(redis.call('HGET', KEYS[2], 'moves') or '0') >= max_moves then
    return {'limit'}
  end
  redis.call('HSET', KEYS[2], 'devices', ARGV[6])
  redis.call('HINCRBY', KEYS[2], 'moves', 1)
  redis.call('EXPIREAT', KEYS[2], expire_at)
  redis.call('DEL', KEYS[5])
  log('moved')
  return {'moved'}
end

return redis.error_reply('BADACTION')
