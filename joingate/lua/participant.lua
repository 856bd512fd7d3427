-- Record one verified participant_joined / participant_left delivery, in one round trip: drop a
-- delivery seen before, and add what it says to its stay. Nothing is attributed here: who a stay
-- is (which registrant, on what evidence) is derived when the report is read, from every
-- identifier the stay ever carried, so a later or weaker event never moves a stay and a
-- registrant imported later is still found.
--
-- What one participant can store (a follow-up of security finding 4): anyone holding the Zoom
-- join link can join and leave again and again, and Zoom gives every rejoin a new user_id, so a
-- new stay. Stays are kept one by one while the participant (its "who": the Zoom registrant_id,
-- else the customer_key, else the Zoom user id, else the name this delivery carries) has had
-- fewer than ARGV[14] stays in the instance, and the instance fewer than ARGV[15] in all; a stay
-- takes at most ARGV[16] join and leave times. Past a budget the delivery is *folded* into the
-- who's fold instead, two records of this instance's stays (so the report reads them as it reads
-- any stay, and attributes them by the who's identifiers):
--   '~1:' .. who  where any folded stay is present: the union of their presence, exactly while
--                 it has at most ARGV[17] intervals (past that the shortest gap is closed, which
--                 overstates presence and never hides it); c: how many of Zoom's stays it holds
--   '~2:' .. who  where two or more folded stays are present at once (the second lane: a second
--                 person for the report's sharing count), c: 0
-- A name that no registrant displays and that has no stay of its own yet goes to the meeting's
-- one anonymous fold, who '*' (no identifiers, rn: the latest name): names anyone can type
-- cannot make one fold each. So the stays, the feed and the seen set of an instance are
-- bounded, every folded stay still counts (joins, minutes, being there now, a second person),
-- and no participant's deliveries push another's out. A folded delivery does not go to the feed
-- (the budget is what bounds it) and schedules the worker's check of the instance itself, in
-- this round trip, as a feed entry would have. Deliveries are checked for repeats against the
-- fold's own record of its stays (the seen set is not grown by them); a repeat of a stay the
-- fold let go (one of the ARGV[18] that left longest ago) counts again, overstating presence.
--
-- KEYS[1]  meeting hash (its expire_at sets every TTL)
-- KEYS[2]  seen deliveries: set of digests
-- KEYS[3]  stays of this instance: hash stay key -> JSON
--          {j: [join times], l: [leave times], n: name of the earliest delivery, nt: its time,
--           rn: a later other name, zr: Zoom registrant_id, ck: customer_key, em: email,
--           id: Zoom user id (participant.id), pu: participant_uuid, h: 1 for the host}
--          and the folds above, which add c and their state: m (folded stays: stay key ->
--          {j: join, l: leave}, either missing while unknown; at most ARGV[18] present and as
--          many others), a (closed intervals of the union), b (closed intervals of the second
--          lane), f (the earliest join of the folded stays forgotten while present: past
--          ARGV[18] present at once; present until the instance ends)
-- KEYS[4]  instances: hash instance uuid -> start time (the first we heard of it)
-- KEYS[5]  meeting event stream
-- KEYS[6]  stays kept one by one in this instance: hash who -> count, '*' -> all of them
-- KEYS[7]  display names of the meeting's registrants: hash display name -> registrant id
-- KEYS[8]  the worker's checks: sorted set instance -> when to check it
-- ARGV[1]  delivery digest      ARGV[2]  joined | left         ARGV[3]  stay key
-- ARGV[4]  instance uuid        ARGV[5]  join or leave time (unix s)
-- ARGV[6]  now (unix s)
-- ARGV[7]  user_name            ARGV[8]  participant_uuid      ARGV[9]  Zoom registrant_id
-- ARGV[10] customer_key         ARGV[11] email                 ARGV[12] Zoom user id
-- ARGV[13] 1 if the participant is the host, else 0
-- ARGV[14] stays kept one by one per who and instance
-- ARGV[15] stays kept one by one per instance
-- ARGV[16] join and leave times one stay takes
-- ARGV[17] intervals a fold's lane keeps
-- ARGV[18] folded stays a fold follows one by one while they are present (or left first)
--
-- Returns 'recorded', 'duplicate' or 'unknown_meeting' (nothing written for the last two).
local meeting_key, seen_key, stays_key, instances_key, events_key, counts_key, displays_key,
  checks_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local digest, kind, stay_key, instance = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local at, now = tonumber(ARGV[5]), ARGV[6]
local user_name, participant_uuid = ARGV[7], ARGV[8]
local identifiers = {zr = ARGV[9], ck = ARGV[10], em = ARGV[11], id = ARGV[12]}
local is_host = ARGV[13] == '1'
local who_budget, instance_budget = tonumber(ARGV[14]), tonumber(ARGV[15])
local stay_times, fold_intervals = tonumber(ARGV[16]), tonumber(ARGV[17])
local fold_members = tonumber(ARGV[18])

local expire_at = redis.call('HGET', meeting_key, 'expire_at')
if not expire_at then return 'unknown_meeting' end

-- Add this delivery's identifiers and name to a stay (or a fold): the first non-empty value of
-- each identifier is the record's; the name of the earliest delivery (by Zoom's time, whatever
-- the order of arrival) is its name, a rename is kept apart and never changes who it is.
local function learn(record)
  for field, value in pairs(identifiers) do
    if value ~= '' and (record[field] == nil or record[field] == '') then record[field] = value end
  end
  if user_name ~= '' then
    if record.nt == nil or at < record.nt then
      if record.n and record.n ~= user_name then record.rn = record.n end
      record.n, record.nt = user_name, at
    elseif user_name ~= record.n then
      record.rn = user_name
    end
  end
  if is_host then record.h = 1 end
end

local function keep_until(keys)
  for _, key in ipairs(keys) do redis.call('EXPIREAT', key, expire_at) end
end

local raw = redis.call('HGET', stays_key, stay_key)
local stay = raw and cjson.decode(raw)
local who
if identifiers.zr ~= '' then who = 'zr:' .. identifiers.zr
elseif identifiers.ck ~= '' then who = 'ck:' .. identifiers.ck
elseif identifiers.id ~= '' then who = 'id:' .. identifiers.id
else who = 'n:' .. user_name end

local fold_key, new_stay
if stay then
  if #(stay.j or {}) + #(stay.l or {}) >= stay_times then fold_key = '~1:' .. who end
else
  local counted = redis.call('HMGET', counts_key, who, '*')
  local kept, total = tonumber(counted[1]) or 0, tonumber(counted[2]) or 0
  if kept < who_budget and total < instance_budget then
    stay, new_stay = {}, true
  elseif kept > 0 or string.sub(who, 1, 2) ~= 'n:'
      or redis.call('HEXISTS', displays_key, user_name) == 1 then
    fold_key = '~1:' .. who
  else
    who, fold_key = '*', '~1:*'
  end
end

if not fold_key then
  if redis.call('SADD', seen_key, digest) == 0 then return 'duplicate' end
  if new_stay then
    redis.call('HINCRBY', counts_key, who, 1)
    redis.call('HINCRBY', counts_key, '*', 1)
  end
  -- Every time is kept once: a second join of the same key is a new interval, not an overwrite.
  local field = kind == 'joined' and 'j' or 'l'
  local times = stay[field] or {}
  local known = false
  for _, t in ipairs(times) do
    if t == at then known = true end
  end
  if not known then times[#times + 1] = at end
  stay[field] = times
  if participant_uuid ~= '' and (stay.pu == nil or stay.pu == '') then
    stay.pu = participant_uuid
  end
  learn(stay)
  redis.call('HSET', stays_key, stay_key, cjson.encode(stay))
  redis.call('HSETNX', instances_key, instance, now)
  redis.call('XADD', events_key, '*', 'kind', kind, 'at', ARGV[5],
             'instance', instance, 'stay', stay_key, 'name', user_name,
             'participant', participant_uuid)
  keep_until({seen_key, stays_key, instances_key, events_key, counts_key})
  return 'recorded'
end

-- Intervals: lists of {from, to}, sorted, disjoint (touching ones are one). Past `cap` the
-- shortest gap is closed: presence is overstated by it, never understated.
local function merged(list, cap)
  table.sort(list, function(x, y) return x[1] < y[1] end)
  local out = {}
  for _, piece in ipairs(list) do
    local last = out[#out]
    if last and piece[1] <= last[2] then
      if piece[2] > last[2] then last[2] = piece[2] end
    else
      out[#out + 1] = {piece[1], piece[2]}
    end
  end
  while #out > cap do
    local shortest = 1
    for i = 2, #out - 1 do
      if out[i + 1][1] - out[i][2] < out[shortest + 1][1] - out[shortest][2] then
        shortest = i
      end
    end
    out[shortest][2] = out[shortest + 1][2]
    table.remove(out, shortest + 1)
  end
  return out
end

-- The parts of [from, to] inside `list`, added to `into`.
local function add_overlap(into, list, from, to)
  for _, piece in ipairs(list) do
    local s, e = math.max(from, piece[1]), math.min(to, piece[2])
    if s < e then into[#into + 1] = {s, e} end
  end
  return into
end

-- When the folded stays still present joined, earliest first (forgotten ones at f).
local function open_joins(fold)
  local starts = {}
  for _, member in pairs(fold.m) do
    if member.j and not member.l then starts[#starts + 1] = member.j end
  end
  if fold.f then starts[#starts + 1] = fold.f end
  table.sort(starts)
  return starts
end

-- One folded stay was present from `from` to `to`: the time someone else of the fold was there
-- too goes to the second lane, then the interval to the union. (The stay itself is no longer
-- among the present ones when this runs.)
local function close(fold, from, to)
  if to < from then to = from end
  local others = {}
  for _, piece in ipairs(fold.a) do others[#others + 1] = piece end
  local starts = open_joins(fold)
  if starts[1] then others[#others + 1] = {starts[1], math.huge} end
  fold.b = merged(add_overlap(fold.b, others, from, to), fold_intervals)
  fold.a[#fold.a + 1] = {from, to}
  fold.a = merged(fold.a, fold_intervals)
end

-- A lane as a stay's join and leave times: its closed intervals, then open from `open_from`
-- (absorbing every interval that reaches it) when someone is still there.
local function as_times(list, open_from)
  local joins, leaves = {}, {}
  for _, piece in ipairs(list) do
    if open_from and piece[2] >= open_from then
      if piece[1] < open_from then open_from = piece[1] end
    else
      joins[#joins + 1], leaves[#leaves + 1] = piece[1], piece[2]
    end
  end
  if open_from then joins[#joins + 1] = open_from end
  return joins, leaves
end

local second_key = '~2:' .. string.sub(fold_key, 4)
local fold_raw = redis.call('HGET', stays_key, fold_key)
local fold = fold_raw and cjson.decode(fold_raw) or {c = 0}
-- cjson turns an empty map or list into {}; give each part its shape again.
fold.m, fold.a, fold.b = fold.m or {}, fold.a or {}, fold.b or {}

-- Each folded stay as a stay's own record would take this delivery (see attendance.intervals:
-- a second join while present keeps the first; a leave without a join before it waits for
-- it; a leave after a leave counts from the earlier one), or 'duplicate' for one seen before.
local member = fold.m[stay_key]
if kind == 'joined' then
  if member == nil then
    fold.m[stay_key] = {j = at}
    fold.c = fold.c + 1
  elseif member.l == nil then
    if at >= member.j then return 'duplicate' end
    member.j = at
  elseif member.j == nil then                    -- its leave came first: now it is whole
    member.j = at
    close(fold, at, member.l)
  elseif at > member.l then                      -- a new interval of the same stay
    fold.m[stay_key] = {j = at}
    fold.c = fold.c + 1
  else
    return 'duplicate'
  end
else
  if member == nil then
    fold.m[stay_key] = {l = at}
    fold.c = fold.c + 1
  elseif member.j and member.l == nil then
    member.l = at
    fold.m[stay_key] = nil                       -- not among the present ones in close()
    close(fold, member.j, at)
    fold.m[stay_key] = member
  elseif at > member.l then
    local since = member.l
    member.l = at
    close(fold, since, at)
  else
    return 'duplicate'
  end
end

-- Bounded: at most fold_members present (past that the latest to join is forgotten, counted
-- as present until the instance ends: f), and as many others (the stays that left longest ago
-- are let go: a repeated delivery of theirs would count again).
local present, gone = {}, {}
for key, entry in pairs(fold.m) do
  if entry.j and not entry.l then
    present[#present + 1] = {key, entry.j}
  else
    gone[#gone + 1] = {key, entry.l}
  end
end
if #present > fold_members then
  table.sort(present, function(x, y) return x[2] > y[2] end)
  for i = 1, #present - fold_members do
    fold.m[present[i][1]] = nil
    if fold.f == nil or present[i][2] < fold.f then fold.f = present[i][2] end
  end
end
if #gone > fold_members then
  table.sort(gone, function(x, y) return x[2] < y[2] end)
  for i = 1, #gone - fold_members do fold.m[gone[i][1]] = nil end
end

if who == '*' then
  if user_name ~= '' then fold.rn = user_name end
else
  learn(fold)
end
local starts = open_joins(fold)
fold.j, fold.l = as_times(fold.a, starts[1])
local second = {c = 0, zr = fold.zr, ck = fold.ck, em = fold.em, id = fold.id, n = fold.n,
                nt = fold.nt, rn = fold.rn, h = fold.h}
local two = {}
for _, piece in ipairs(fold.b) do two[#two + 1] = piece end
if starts[1] then add_overlap(two, fold.a, starts[1], math.huge) end
second.j, second.l = as_times(merged(two, fold_intervals + #fold.a), starts[2])

redis.call('HSET', stays_key, fold_key, cjson.encode(fold))
if #second.j > 0 or #second.l > 0 then
  redis.call('HSET', stays_key, second_key, cjson.encode(second))
else
  redis.call('HDEL', stays_key, second_key)
end
redis.call('HSETNX', instances_key, instance, now)
-- No feed entry: the worker's check of this instance is scheduled here (an earlier one kept).
redis.call('ZADD', checks_key, 'LT', now, instance)
keep_until({stays_key, instances_key, checks_key})
return 'recorded'
