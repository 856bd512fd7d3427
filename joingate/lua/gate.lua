-- Open or claim one link in one round trip: check the link's state and the meeting's window,
-- bind the link to a device on the first claim, count, and log.
--
-- KEYS[1]  meeting hash
-- KEYS[2]  registrant hash (its last ':' part is the registrant id the events carry)
-- KEYS[3]  meeting event stream (the organizer's feed)
-- KEYS[4]  user agents of the meeting: hash short id -> user agent (each stored once)
-- KEYS[5]  the link's overflow: list of "time<TAB>kind<TAB>ip<TAB>user agent" (the server's
--          time, unix seconds) of its events past its feed budget, newest last, capped
-- ARGV[1]  mode: "open" (GET/HEAD: records the open, binds nothing) or "claim" (POST)
-- ARGV[2]  link version named by the token
-- ARGV[3]  now, unix seconds
-- ARGV[4]  device id from the browser's verified cookie, or ""
-- ARGV[5]  device id to bind when the link has room for one more device
-- ARGV[6]  client IP             ARGV[7]  user agent (both already cleaned of tabs)
-- ARGV[8]  feed budget of a link: how many of one link's opens and claims (counted by its
--          opens + claims), and apart from them how many of its refusals (counted by refused),
--          the meeting's feed and user-agent table take; the link's later events go to its own
--          capped overflow list instead, so no link can crowd out another's evidence or grow
--          the meeting's tables past its budget. Counted since the organizer last reset,
--          restored or reissued the link (the registrant's feed_base and refused_base, set by
--          manage.lua)
-- ARGV[9]  short id of the user agent ("" when there is none); events carry the id
-- ARGV[10] overflow cap: how many of the link's newest events past its budget are kept
--
-- Returns {outcome, detail, meeting fields, {display, join_url}}; the meeting fields are
-- HMGET of: start open_before duration close_after expire_at max_devices rejoin target pwd topic
-- support auto_submit max_moves language timezone (store.GATE_MEETING_FIELDS, same order).
-- outcome (detail) is one of:
--   unknown         meeting or registrant missing; meeting fields and {display, join_url} empty
--   superseded      the token names an older version (detail: the current version)
--   revoked         the link was revoked
--   expired         after the meeting's window closed (detail: closing time)
--   too_early       before the window opens (detail: opening time); an open is still recorded
--   confirm         open: a claim from this browser would redirect (bound here and the meeting
--                   allows rejoin, or not bound here and there is room)
--   used_elsewhere  bound to other devices and full: a refused open or a refused claim (detail
--                   ""); or this browser holds the link and the meeting lets no bound browser
--                   rejoin (detail "here": an open logs "open", a claim counts as refused)
--   rejoined        claim from the bound device, rejoin allowed (detail: that device id)
--   claimed         claim that binds a new device (detail: the new device id)
-- Writes: nothing for unknown, superseded, revoked, expired; an open (mode "open") counts
-- `opens` and logs kind "open", or, when the link is bound elsewhere and full, also counts
-- `refused` and logs "refused_open" instead; a claim logs "claim" (binds, counts `claims`, first_claim),
-- "rejoin" (counts `claims`) or "refused" (counts `refused`); a too_early claim writes nothing.
-- An event goes to the meeting's feed (its user agent, when new, to the table) while the link is
-- within its feed budget, else to the link's overflow list. Nothing is ever trimmed from the
-- feed: what bounds it is each link's budget (and Zoom's and organizers' own events). Every
-- write gives the registrant hash and the key it logged to (the stream and the user agents, or
-- the overflow) the meeting's expire_at when they have no expiry yet (upsert and save_meeting
-- set and move it).
local meeting_key, registrant_key, events_key, user_agents_key, history_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local mode, version, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local presented_device, new_device = ARGV[4], ARGV[5]
local ip, user_agent = ARGV[6], ARGV[7]
local feed_budget, user_agent_id = tonumber(ARGV[8]), ARGV[9]
local history_cap = tonumber(ARGV[10])
local registrant_id = string.match(registrant_key, '[^:]+$')

local meeting = redis.call('HMGET', meeting_key, 'start', 'open_before', 'duration', 'close_after',
                           'expire_at', 'max_devices', 'rejoin', 'target', 'pwd', 'topic',
                           'support', 'auto_submit', 'max_moves', 'language', 'timezone')
if not meeting[1] then return {'unknown', '', {}, {}} end
local start, open_before, duration, close_after, expire_at, max_devices, rejoin =
  tonumber(meeting[1]), tonumber(meeting[2]), tonumber(meeting[3]), tonumber(meeting[4]),
  meeting[5], tonumber(meeting[6]), meeting[7]
local reg = redis.call('HMGET', registrant_key, 'ver', 'revoked', 'devices', 'display', 'join_url',
                       'opens', 'claims', 'refused', 'feed_base', 'refused_base')
if not reg[1] then return {'unknown', '', {}, {}} end
local current_version, revoked, devices = reg[1], reg[2], reg[3] or ''
local shown = {reg[4], reg[5] or ''}
if current_version ~= version then return {'superseded', current_version, meeting, shown} end
if revoked == '1' then return {'revoked', '', meeting, shown} end

local opens_at = start - open_before
local closes_at = start + duration * 60 + close_after
if now > closes_at then return {'expired', tostring(closes_at), meeting, shown} end

-- The link's counters as read above, kept in step by bump(): log() needs them for the budget,
-- which counts from the bases an organizer's reset, restore or reissue set (manage.lua).
local counted = {opens = tonumber(reg[6]) or 0, claims = tonumber(reg[7]) or 0,
                 refused = tonumber(reg[8]) or 0}
local feed_base, refused_base = tonumber(reg[9]) or 0, tonumber(reg[10]) or 0
local function bump(field)
  counted[field] = redis.call('HINCRBY', registrant_key, field, 1)
end

-- EXPIREAT ... NX: a key that has its expiry (upsert and save_meeting set and move them) is
-- not written again, so nothing more goes to the append-only file and the replicas.
local function log(kind)
  -- Refusals have a budget of their own: a link opened or rejoined past its budget still
  -- reports its first refusals (a second device: the worker acts on them from the feed).
  local made
  if kind == 'refused' or kind == 'refused_open' then
    made = counted.refused - refused_base
  else
    made = counted.opens + counted.claims - feed_base
  end
  if made <= feed_budget then
    if user_agent_id ~= '' then
      redis.call('HSETNX', user_agents_key, user_agent_id, user_agent)
      redis.call('EXPIREAT', user_agents_key, expire_at, 'NX')
    end
    redis.call('XADD', events_key, '*', 'kind', kind, 'registrant', registrant_id, 'ip', ip,
               'ua', user_agent_id)
    redis.call('EXPIREAT', events_key, expire_at, 'NX')
  else
    -- Stamped with the server's time, as the feed's ids are: one clock for the whole history.
    local time = redis.call('TIME')
    redis.call('RPUSH', history_key, time[1] .. '.' .. string.format('%06d', tonumber(time[2]))
               .. '\t' .. kind .. '\t' .. ip .. '\t' .. user_agent)
    redis.call('LTRIM', history_key, -history_cap, -1)
    redis.call('EXPIREAT', history_key, expire_at, 'NX')
  end
  redis.call('EXPIREAT', registrant_key, expire_at, 'NX')
end

local bound_here = presented_device ~= '' and
  string.find(' ' .. devices .. ' ', ' ' .. presented_device .. ' ', 1, true) ~= nil
local count = 0
for _ in string.gmatch(devices, '%S+') do count = count + 1 end
local room = count < max_devices

if mode == 'open' then
  bump('opens')
  if now < opens_at then
    log('open')
    return {'too_early', tostring(opens_at), meeting, shown}
  end
  if (bound_here and rejoin ~= '0') or (room and not bound_here) then
    log('open')
    return {'confirm', '', meeting, shown}
  end
  if bound_here then
    -- The bound browser again, on a meeting without rejoin: its own open, not a refused one.
    log('open')
    return {'used_elsewhere', 'here', meeting, shown}
  end
  -- Another browser opened a link bound elsewhere: a refused attempt, as a refused claim is.
  bump('refused')
  log('refused_open')
  return {'used_elsewhere', '', meeting, shown}
end

if now < opens_at then return {'too_early', tostring(opens_at), meeting, shown} end
-- The same claim again: redis-py resends a command once after a lost connection (a Redis
-- restart, a failover), and the first send may have bound this request's fresh device id.
-- Answer as the first send did, write nothing more (else the device would be refused: 409).
if presented_device == '' and
    string.find(' ' .. devices .. ' ', ' ' .. new_device .. ' ', 1, true) then
  return {'claimed', new_device, meeting, shown}
end
if bound_here and rejoin ~= '0' then
  bump('claims')
  log('rejoin')
  return {'rejoined', presented_device, meeting, shown}
end
if room and not bound_here then
  if devices == '' then devices = new_device else devices = devices .. ' ' .. new_device end
  redis.call('HSET', registrant_key, 'devices', devices)
  redis.call('HSETNX', registrant_key, 'first_claim', math.floor(now))
  bump('claims')
  log('claim')
  return {'claimed', new_device, meeting, shown}
end
bump('refused')
log('refused')
return {'used_elsewhere', bound_here and 'here' or '', meeting, shown}
