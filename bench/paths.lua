-- wrk script: every request takes the next line of PATHS_FILE (this thread's share of it),
-- so that every claim or open uses a link never used before.
-- Environment: PATHS_FILE, METHOD (GET|POST), COOKIE (optional), BODIES_FILE (optional: one
-- request body per line, with its x-zm headers first, tab-separated), QUOTA (optional: stop
-- the thread after that many responses), PACE_MS (optional: delay before each request).
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

function init(args)
  local file = os.getenv("PATHS_FILE")
  local all = {}
  for line in io.lines(file) do all[#all + 1] = line end
  local id, total = thread_id, tonumber(os.getenv("THREADS") or "2")
  local share = math.floor(#all / total)
  lines = {}
  for i = (id - 1) * share + 1, id * share do lines[#lines + 1] = all[i] end
  bodies = nil
  if os.getenv("BODIES_FILE") then
    local everything = {}
    for line in io.lines(os.getenv("BODIES_FILE")) do everything[#everything + 1] = line end
    local bshare = math.floor(#everything / total)
    bodies = {}
    for i = (id - 1) * bshare + 1, id * bshare do bodies[#bodies + 1] = everything[i] end
  end
  method = os.getenv("METHOD") or "GET"
  cookie = os.getenv("COOKIE")
  quota = tonumber(os.getenv("QUOTA") or "0")
  pace = tonumber(os.getenv("PACE_MS") or "0")
  n, done = 0, 0
end

function delay()
  return pace
end

function request()
  n = n + 1
  local index = ((n - 1) % #lines) + 1
  local headers = {}
  if cookie then headers["Cookie"] = cookie end
  local body = nil
  if bodies then
    local timestamp, signature, payload = string.match(bodies[((n - 1) % #bodies) + 1],
                                                       "^([^\t]*)\t([^\t]*)\t(.*)$")
    headers["x-zm-request-timestamp"] = timestamp
    headers["x-zm-signature"] = signature
    headers["Content-Type"] = "application/json"
    body = payload
  end
  return wrk.format(method, lines[index], headers, body)
end

function response(status, headers, body)
  done = done + 1
  if quota > 0 and done >= quota then wrk.thread:stop() end
end
