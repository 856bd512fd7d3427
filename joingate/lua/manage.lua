-- An organizer's change to one link: revoke, reset (free the device binding), restore (undo a
-- revoke: the same link works again, unbound) or reissue (a new version: the old link stops
-- working, the new one starts unbound and not revoked).
--
-- KEYS[1]  meeting hash          KEYS[2]  registrant hash (its last ':' part is the registrant id)
-- KEYS[3]  meeting event stream
-- ARGV[1]  action: revoke | reset | restore | reissue
-- ARGV[2]  who asked (cli, api, worker): the event carries it in its `ua` field
--
-- Returns the link's version after the change, having logged one event of kind ARGV[1] and moved
-- the registrant hash and the stream to the meeting's expire_at:
--   revoke   sets revoked=1              reset    deletes devices
--   restore  deletes devices and revoked  reissue  increments ver, deletes devices and revoked
-- Reset, restore and reissue also give the link a fresh feed budget (gate.lua, move.lua): the
-- budget counts from feed_base (opens + claims now) and refused_base (refused now), and
-- move_logs starts again, so the next device's claims and a second device's refusals reach the
-- feed again. The counters themselves (the report's claims, its second_device) are kept. Only
-- an organizer (the CLI, the API with a manage token, the dashboard) runs these three; the
-- worker only revokes, and nothing a link's holder does moves the bases.
-- Errors (nothing written): NOTFOUND when meeting or registrant is missing, BADACTION for
-- another action.
local meeting_key, registrant_key, events_key = KEYS[1], KEYS[2], KEYS[3]
local action, actor = ARGV[1], ARGV[2]
local registrant_id = string.match(registrant_key, '[^:]+$')

local expire_at = redis.call('HGET', meeting_key, 'expire_at')
if not expire_at or redis.call('EXISTS', registrant_key) == 0 then
  return redis.error_reply('NOTFOUND')
end
if action == 'revoke' then
  redis.call('HSET', registrant_key, 'revoked', '1')
elseif action == 'reset' then
  redis.call('HDEL', registrant_key, 'devices')
elseif action == 'restore' then
  redis.call('HDEL', registrant_key, 'devices', 'revoked')
elseif action == 'reissue' then
  redis.call('HINCRBY', registrant_key, 'ver', 1)
  redis.call('HDEL', registrant_key, 'devices', 'revoked')
else
  return redis.error_reply('BADACTION')
end
if action ~= 'revoke' then
  local counts = redis.call('HMGET', registrant_key, 'opens', 'claims', 'refused')
  redis.call('HSET', registrant_key,
             'feed_base', (tonumber(counts[1]) or 0) + (tonumber(counts[2]) or 0),
             'refused_base', tonumber(counts[3]) or 0)
  redis.call('HDEL', registrant_key, 'move_logs')
end
redis.call('XADD', events_key, '*', 'kind', action,
           'registrant', registrant_id, 'ip', '', 'ua', actor)
redis.call('EXPIREAT', registrant_key, expire_at)
redis.call('EXPIREAT', events_key, expire_at)
return tonumber(redis.call('HGET', registrant_key, 'ver'))
