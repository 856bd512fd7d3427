-- meeting.started / meeting.ended: open or close one instance of a meeting.
--
-- KEYS[1]  meeting hash (its expire_at sets the TTLs)
-- KEYS[2]  instances: hash instance uuid -> start time
-- KEYS[3]  ended instances: hash instance uuid -> end time
-- ARGV[1]  started | ended     ARGV[2]  instance uuid     ARGV[3]  the event's time (unix s)
--
-- Returns 0 when the meeting is unknown (nothing written), else 1 having written:
--   started  instances[uuid] = time (a later start overwrites an earlier one)
--   ended    instances[uuid] = time unless known, ended[uuid] = time
-- and moved both hashes to the meeting's expire_at.
local meeting_key, instances_key, ended_key = KEYS[1], KEYS[2], KEYS[3]
local kind, instance, at = ARGV[1], ARGV[2], ARGV[3]

local expire_at = redis.call('HGET', meeting_key, 'expire_at')
if not expire_at then return 0 end
if kind == 'started' then
  redis.call('HSET', instances_key, instance, at)
else
  redis.call('HSETNX', instances_key, instance, at)
  redis.call('HSET', ended_key, instance, at)
end
redis.call('EXPIREAT', instances_key, expire_at)
redis.call('EXPIREAT', ended_key, expire_at)
return 1
