-- An organizer's change to one link: revoke, reset (free the device binding) or reissue (a new
-- version: the old link stops working, the new one starts unbound and not revoked).
--
-- KEYS[1]  meeting hash          KEYS[2]  registrant hash
-- KEYS[3]  meeting event stream
-- ARGV[1]  action: revoke | reset | reissue
-- ARGV[2]  who asked (cli, api, worker)
-- ARGV[3]  event stream cap
--
-- Returns the link's version after the change; error NOTFOUND when meeting or registrant is missing.
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if not expire_at or redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('NOTFOUND') end
local action = ARGV[1]
if action == 'revoke' then
  redis.call('HSET', KEYS[2], 'revoked', '1')
elseif action == 'reset' then
  redis.call('HDEL', KEYS[2], 'devices')
elseif action == 'reissue' then
  redis.call('HINCRBY', KEYS[2], 'ver', 1)
  redis.call('HDEL', KEYS[2], 'devices', 'revoked')
else
  return redis.error_reply('BADACTION')
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'kind', action,
           'registrant', string.match(KEYS[2], '[^:]+$'), 'ip', '', 'ua', ARGV[2])
for i = 2, 3 do redis.call('EXPIREAT', KEYS[i], expire_at) end
return tonumber(redis.call('HGET', KEYS[2], 'ver'))
