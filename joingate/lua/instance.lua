-- meeting.started / meeting.ended: open or close one instance of a meeting.
--
-- KEYS[1]  meeting hash (its expire_at sets the TTLs)
-- KEYS[2]  instances: hash instance uuid -> start time
-- KEYS[3]  ended instances: hash instance uuid -> end time
-- ARGV[1]  started | ended     ARGV[2]  instance uuid     ARGV[3]  the event's time (unix s)
--
-- Returns 1, or 0 when the meeting is unknown (nothing written).
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if not expire_at then return 0 end
if ARGV[1] == 'started' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
else
  redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
end
redis.call('EXPIREAT', KEYS[2], expire_at)
redis.call('EXPIREAT', KEYS[3], expire_at)
return 1
