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
-- fewer than ARGV[14] stays in the instance, and the instance fewer than ARGV[15] plus ARGV[21]
-- per registrant of the meeting in all; a stay
-- takes at most ARGV[16] join and leave times. Past a budget the delivery goes to the who's
-- *fold* '~1:' .. who, one record among the instance's stays that the report reads as two stays
-- (joingate/folds.py: where any of them was there, and where two people of it were at once, so
-- sharing past the budget is still seen), attributed by the who's identifiers (a Zoom user id
-- only in the fold of one Zoom user: a registrant link's fold holds several people's). The fold
-- follows its newest ARGV[18] stays one by one, each taking deliveries as a stay does (a time
-- kept once: a repeat is 'duplicate'). Older ones are let go into closed intervals, at most
-- ARGV[17] per list (past that the shortest gap is closed: presence is overstated, never
-- hidden): their presence, the same cut by the report's handover rule (ARGV[19] seconds: a
-- dropped connection whose leave came late is no second person), and where someone else of the
-- fold was there with them; their spans as defined by attendance.intervals. A repeated delivery
-- of a stay let go counts again.
-- A name that no registrant displays and that has no stay of its own yet goes, once the
-- instance's budget is spent, to the instance's one anonymous fold, who '*' (no identifiers; rn:
-- the latest name): typing a new name each time cannot make a record each time. So the stays,
-- the feed and the seen set of an instance are bounded, every folded stay still counts (joins,
-- minutes, being there now, a second person), and no participant's deliveries push another's
-- out. A folded delivery goes neither to the seen set nor, but one every ARGV[20] seconds per
-- instance (so the organizer's live views, which follow the feed, still move), to the feed:
-- the budgets bound them. It schedules the worker's check of the instance itself, in this
-- round trip, as its feed entry would have.
--
-- KEYS[1]  meeting hash (its expire_at sets every TTL)
-- KEYS[2]  seen deliveries: set of digests
-- KEYS[3]  stays of this instance: hash stay key -> JSON
--          {j: [join times], l: [leave times], n: name of the earliest delivery, nt: its time,
--           rn: a later other name, zr: Zoom registrant_id, ck: customer_key, em: email,
--           id: Zoom user id (participant.id), pu: participant_uuid, h: 1 for the host}
--          and the folds, '~1:' .. who -> JSON of its identifiers and names (as a stay's) and
--          m (the stays followed one by one: stay key -> {j: [join times], l: [leave times],
--          p: Zoom user id}), and of the stays let go: a (closed intervals where they were
--          there), k (the same, cut by the handover rule), b (closed intervals where two people
--          were there at once), r (how many spans they had), f (the earliest join of those let
--          go while still there: there until the instance ends)
-- KEYS[4]  instances: hash instance uuid -> start time (the first we heard of it)
-- KEYS[5]  meeting event stream
-- KEYS[6]  stays kept one by one in this instance: hash who -> count, '*' -> all of them, and
--          '@' -> when a folded delivery last reached the feed (unix s)
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
-- ARGV[17] intervals each of a fold's lists keeps
-- ARGV[18] stays a fold follows one by one
-- ARGV[19] the handover: seconds a stay may end after another person's later join and still be
--          a dropped connection (attendance.HANDOVER)
-- ARGV[20] seconds between the instance's folded deliveries that reach the feed
-- ARGV[21] stays kept one by one per instance for each registrant of the meeting, on top of
--          ARGV[15] (the count of KEYS[7], the registrants' display names)
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
local fold_members, handover = tonumber(ARGV[18]), tonumber(ARGV[19])
local feed_every = tonumber(ARGV[20])
local per_registrant = tonumber(ARGV[21])

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
  -- The instance's budget grows with the roster (a webinar of 20,000 keeps each person's
  -- stays one by one); HLEN only once the fixed part is spent.
  if kept < who_budget and (total < instance_budget or total < instance_budget
      + per_registrant * redis.call('HLEN', displays_key)) then
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
    redis.call('EXPIREAT', counts_key, expire_at)
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
  keep_until({seen_key, stays_key, instances_key, events_key})
  return 'recorded'
end

-- The fold. Intervals are {from, to} lists; HUGE ends one still open while it is computed (it
-- is never stored: a stored list holds closed intervals only).
local HUGE = math.huge

-- A list of intervals sorted and disjoint (touching ones are one).
local function merged(list)
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
  return out
end

-- The union of two lists of intervals (each at most a fold's cap long: sorting is cheap).
local function union(x, y)
  local both = {}
  for _, piece in ipairs(x) do both[#both + 1] = piece end
  for _, piece in ipairs(y) do both[#both + 1] = piece end
  return merged(both)
end

-- At most `cap` intervals: the shortest gap is closed, overstating presence, never hiding it.
local function capped(list, cap)
  while #list > cap do
    local shortest = 1
    for i = 2, #list - 1 do
      if list[i + 1][1] - list[i][2] < list[shortest + 1][1] - list[shortest][2] then
        shortest = i
      end
    end
    list[shortest][2] = list[shortest + 1][2]
    table.remove(list, shortest + 1)
  end
  return list
end

-- The intervals of a sorted list that end after `from` (the others cannot meet anything later).
local function tail(list, from)
  local first = #list + 1
  while first > 1 and list[first - 1][2] > from do first = first - 1 end
  local out = {}
  for i = first, #list do out[#out + 1] = list[i] end
  return out
end

local function append(into, list)
  for _, piece in ipairs(list) do into[#into + 1] = {piece[1], piece[2]} end
  return into
end

-- A folded stay's intervals exactly as attendance.intervals derives a stay's: a second join while
-- there keeps the first; a leave without a join before it counts from the previous leave, or
-- from the instance's start. {from, to, ended by a leave, 1 when its join is known}.
local function spans_of(member, instance_start)
  local edges, start = {}, instance_start
  for _, t in ipairs(member.j or {}) do
    edges[#edges + 1] = {t, 1}
    if t < start then start = t end
  end
  for _, t in ipairs(member.l or {}) do
    edges[#edges + 1] = {t, 0}
    if t < start then start = t end
  end
  table.sort(edges, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return x[2] < y[2]
  end)
  local spans, opened, last_leave = {}, nil, nil
  for _, edge in ipairs(edges) do
    if edge[2] == 1 then
      if opened == nil then opened = edge[1] end
    else
      local began = opened or math.min(edge[1], last_leave or start)
      spans[#spans + 1] = {began, math.max(began, edge[1]), true, opened and 1 or 0}
      opened, last_leave = nil, edge[1]
    end
  end
  if opened then spans[#spans + 1] = {opened, HUGE, false, 1} end
  return spans
end

-- Every span of the fold's stays: {from, to, ended by a leave, person (a signed-in user's Zoom
-- user id, else the stay), stay, end for the sharing count, 1 when its join is known}. The end
-- for the sharing count is cut at another person's later start when the span ended less than
-- `handover` seconds after it (a dropped connection whose leave came late), as
-- attendance._cut_handovers cuts a stay's. A span whose join has not come (yet) counts as
-- presence, never as a second person: when it began is not known.
-- (`spans`: each followed stay's spans_of, worked out once per delivery.)
local function live_spans(fold, spans)
  local all = {}
  for key, member in pairs(fold.m) do
    for _, span in ipairs(spans[key]) do
      all[#all + 1] = {span[1], span[2], span[3], member.p or key, key, span[2], span[4]}
    end
  end
  table.sort(all, function(x, y) return x[1] < y[1] end)
  for i, span in ipairs(all) do
    local ends = span[2]
    if span[3] then
      for j = i + 1, #all do
        local other = all[j]
        if other[1] >= ends then break end
        if other[4] ~= span[4] and other[1] > span[1] and ends - other[1] <= handover then
          ends = other[1]
        end
      end
    end
    span[6] = ends
  end
  return all
end

-- The second lane of one Zoom user's fold is where two of their stays are there at once (one
-- person: the report's max_concurrent, never sharing); of any other fold, where two people are
-- (people: a signed-in user's Zoom user id, else each stay).
local one_user = string.sub(who, 1, 3) == 'id:'

-- Let one folded stay go (the fold follows at most fold_members one by one): its intervals join
-- the fold's closed union (a) and, those whose join is known, the cut union (k); the time
-- someone else was there with it the second lane (b); its spans the count (r). A stay still
-- there is counted as there until the instance ends (f).
local function let_go(fold, key, spans)
  local all = live_spans(fold, spans)
  local others, mine, cuts = {}, {}, {}
  local person = one_user and key or fold.m[key].p or key
  local first = HUGE
  for _, span in ipairs(all) do
    if span[5] == key then
      mine[#mine + 1] = span
      if span[1] < first then first = span[1] end
    elseif span[7] == 1 and (one_user and span[5] or span[4]) ~= person then
      others[#others + 1] = {span[1], span[6]}
    end
  end
  append(others, tail(fold.k, first))
  if fold.f then others[#others + 1] = {fold.f, HUGE} end
  others = merged(others)
  local two, closed = {}, {}
  for _, span in ipairs(mine) do
    if span[2] == HUGE then
      if fold.f == nil or span[1] < fold.f then fold.f = span[1] end
    else
      closed[#closed + 1] = {span[1], span[2]}
      if span[7] == 1 then cuts[#cuts + 1] = {span[1], span[6]} end
    end
    for _, piece in ipairs(span[7] == 1 and others or {}) do
      local from, to = math.max(span[1], piece[1]), math.min(span[6], piece[2])
      if from < to and to < HUGE then two[#two + 1] = {from, to} end
    end
  end
  fold.a = capped(union(fold.a, closed), fold_intervals)
  fold.k = capped(union(fold.k, cuts), fold_intervals)
  fold.b = capped(union(fold.b, two), fold_intervals)
  fold.r = (fold.r or 0) + #mine
  fold.m[key], spans[key] = nil, nil
end

redis.call('HSETNX', instances_key, instance, now)
local instance_start = tonumber(redis.call('HGET', instances_key, instance))
local fold_raw = redis.call('HGET', stays_key, fold_key)
local fold = fold_raw and cjson.decode(fold_raw) or {}
-- cjson turns an empty map or list into {}; give each part its shape again.
fold.m, fold.a, fold.k, fold.b = fold.m or {}, fold.a or {}, fold.k or {}, fold.b or {}

-- The folded stay takes the delivery as its own record would (every time kept once); one
-- whose times are full is let go first and starts again.
local field = kind == 'joined' and 'j' or 'l'
local member = fold.m[stay_key]
if member then
  for _, t in ipairs(member[field] or {}) do
    if t == at then return 'duplicate' end
  end
  if #(member.j or {}) + #(member.l or {}) >= stay_times then
    local spans = {}
    for key, entry in pairs(fold.m) do spans[key] = spans_of(entry, instance_start) end
    let_go(fold, stay_key, spans)
    member = nil
  end
end
if member == nil then
  member = {j = {}, l = {}}
  fold.m[stay_key] = member
end
member.j, member.l = member.j or {}, member.l or {}
table.insert(member[field], at)
if identifiers.id ~= '' and member.p == nil then member.p = identifiers.id end

-- At most fold_members followed one by one: let go of the stay that left longest ago (or, all
-- being there, the latest to come).
local count = 0
for _ in pairs(fold.m) do count = count + 1 end
local spans = {}
if count > fold_members then
  for key, entry in pairs(fold.m) do spans[key] = spans_of(entry, instance_start) end
end
while count > fold_members do
  local gone, gone_at, here, here_at = nil, nil, nil, nil
  for key, entry in pairs(fold.m) do
    local left, came = -HUGE, nil
    for _, span in ipairs(spans[key]) do
      if span[2] == HUGE then came = span[1] elseif span[2] > left then left = span[2] end
    end
    if came == nil and (gone_at == nil or left < gone_at) then gone, gone_at = key, left end
    if came and (here_at == nil or came > here_at) then here, here_at = key, came end
  end
  let_go(fold, gone or here, spans)
  count = count - 1
end

if who == '*' then
  if user_name ~= '' then fold.rn = user_name end
else
  -- A fold that is not one Zoom user's holds other people's user ids too: none is its own.
  if not one_user then identifiers.id = '' end
  learn(fold)
end

redis.call('HSET', stays_key, fold_key, cjson.encode(fold))
-- The worker's check of this instance is scheduled here (an earlier one kept), as a feed entry
-- would; the feed itself hears of the instance's folded deliveries at most every feed_every
-- seconds (the organizer's live views follow it).
redis.call('ZADD', checks_key, 'LT', now, instance)
if tonumber(now) - (tonumber(redis.call('HGET', counts_key, '@')) or 0) >= feed_every then
  redis.call('HSET', counts_key, '@', now)
  redis.call('XADD', events_key, '*', 'kind', kind, 'at', ARGV[5], 'instance', instance,
             'stay', fold_key, 'name', user_name, 'participant', participant_uuid)
  keep_until({events_key, counts_key})
end
keep_until({stays_key, instances_key, checks_key})
return 'recorded'
