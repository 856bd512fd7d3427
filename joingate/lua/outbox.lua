-- The outbox of outbound jobs (alerts, Zoom actions): each job is queued once, held by one
-- worker at a time (a lease), and delivered at least once: a worker that dies mid-delivery
-- stops renewing its lease, and the job is due again when the lease ends.
--
-- KEYS[1]  jobs: hash job id -> JSON
-- KEYS[2]  due: sorted set job id -> unix time it is next due (a leased job: its lease's end)
-- KEYS[3]  owners: hash job id -> id of the worker whose lease it is under
-- KEYS[4]  done: sorted set job id -> unix time it was finished (kept ARGV[3] seconds, so that
--          a job finished is never queued again)
-- ARGV[1]  action: enqueue | lease | renew | finish
-- ARGV[2]  now, unix seconds
-- ARGV[3]  how long the outbox keys live, seconds
--
-- enqueue  ARGV[4] job id, ARGV[5] JSON, ARGV[6] due time, ARGV[7] "1" to replace a queued job
--          (a retry: its attempts changed, its lease is given up) or "0" to keep it.
--          Returns 1 when queued, 0 when the job is done already or queued and kept.
-- lease    ARGV[4] worker id, ARGV[5] at most this many jobs, ARGV[6] lease seconds.
--          Returns {id, JSON, id, JSON, ...}: due jobs, now under this worker's lease.
-- renew    ARGV[4] worker id, ARGV[5] lease seconds, ARGV[6...] job ids. Extends the leases
--          this worker still holds; returns how many.
-- finish   ARGV[4] job id. Removes the job and remembers it done; returns 1.
local action, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local function keep()
  for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
end

if action == 'enqueue' then
  local id, body, at, replace = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  if redis.call('ZSCORE', KEYS[4], id) then return 0 end
  if replace ~= '1' and redis.call('HEXISTS', KEYS[1], id) == 1 then return 0 end
  redis.call('HSET', KEYS[1], id, body)
  redis.call('ZADD', KEYS[2], at, id)
  redis.call('HDEL', KEYS[3], id)
  keep()
  return 1
elseif action == 'lease' then
  local worker, limit, until_ = ARGV[4], tonumber(ARGV[5]), now + tonumber(ARGV[6])
  local leased = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)) do
    local body = redis.call('HGET', KEYS[1], id)
    if body then
      redis.call('ZADD', KEYS[2], until_, id)
      redis.call('HSET', KEYS[3], id, worker)
      leased[#leased + 1] = id
      leased[#leased + 1] = body
    else
      redis.call('ZREM', KEYS[2], id)
    end
  end
  if #leased > 0 then keep() end
  return leased
elseif action == 'renew' then
  local worker, until_, renewed = ARGV[4], now + tonumber(ARGV[5]), 0
  for i = 6, #ARGV do
    if redis.call('HGET', KEYS[3], ARGV[i]) == worker then
      redis.call('ZADD', KEYS[2], 'XX', until_, ARGV[i])
      renewed = renewed + 1
    end
  end
  return renewed
elseif action == 'finish' then
  local id = ARGV[4]
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZADD', KEYS[4], now, id)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - ttl)
  keep()
  return 1
end
return redis.error_reply('BADACTION')
