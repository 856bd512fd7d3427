-- Sending the links of one meeting: the lock that lets one sender at a time work on it, each
-- registrant's send record, and the progress of the latest run. One round trip per call; the
-- holder check and the write are one step, so a sender that lost the lock writes nothing.
--
-- KEYS[1]  meeting hash (must exist: its expire_at sets every TTL)
-- KEYS[2]  sends: hash registrant id -> JSON record {state, at, mid, ver, reply, tries}
-- KEYS[3]  problems: hash registrant id -> JSON record, of those now bounced, failed or invalid
-- KEYS[4]  run: hash, the progress of the meeting's latest run (id, by, state, counters, times)
-- KEYS[5]  lock: string, the id of the run that holds the meeting (expires unless renewed)
-- ARGV[1]  action: begin | record | finish
-- ARGV[2]  run id
-- ARGV[3]  lock lifetime in seconds; every call of the holder renews it
-- ARGV[4]  now, unix seconds
--
-- begin   ARGV[5] the holder this run may take over (a dead one; "": only a free lock);
--         ARGV[6..] the run's fields as name, value pairs (the run hash is replaced)
--         -> {1, ""} when this run holds the lock now, else {0, the current holder}
-- record  ARGV[5] registrant id ("": counters only), ARGV[6] its record (JSON),
--         ARGV[7] the record's state, ARGV[8..] counters to add as name, number pairs
--         -> 1; error LOSTLOCK when this run does not hold the lock
-- finish  ARGV[5] the run's final state, ARGV[6] why it stopped ("" when done)
--         -> 1 and the lock released; 0 when this run did not hold it (state still written)
--
-- Error NOMEETING when KEYS[1] is missing.
local action, run_id, lifetime, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if not expire_at then return redis.error_reply('NOMEETING') end
local holder = redis.call('GET', KEYS[5])

local function keep()
  for i = 2, 4 do redis.call('EXPIREAT', KEYS[i], expire_at) end
end

if action == 'begin' then
  local allowed = ARGV[5]
  if holder and holder ~= allowed and holder ~= run_id then return {0, holder} end
  redis.call('SET', KEYS[5], run_id, 'EX', lifetime)
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[4], unpack(ARGV, 6))
  keep()
  return {1, ''}
end

if action == 'record' then
  if holder ~= run_id then return redis.error_reply('LOSTLOCK') end
  redis.call('EXPIRE', KEYS[5], lifetime)
  local rid, state = ARGV[5], ARGV[7]
  if rid ~= '' then
    redis.call('HSET', KEYS[2], rid, ARGV[6])
    if state == 'bounced' or state == 'failed' or state == 'invalid' then
      redis.call('HSET', KEYS[3], rid, ARGV[6])
    else
      redis.call('HDEL', KEYS[3], rid)
    end
  end
  for i = 8, #ARGV - 1, 2 do redis.call('HINCRBY', KEYS[4], ARGV[i], ARGV[i + 1]) end
  redis.call('HSET', KEYS[4], 'updated', now)
  keep()
  return 1
end

if action == 'finish' then
  if redis.call('HGET', KEYS[4], 'id') == run_id then
    redis.call('HSET', KEYS[4], 'state', ARGV[5], 'error', ARGV[6], 'finished', now,
               'updated', now)
  end
  keep()
  if holder ~= run_id then return 0 end
  redis.call('DEL', KEYS[5])
  return 1
end

return redis.error_reply('BADACTION')
