-- wrk script: a class arriving. Every registrant opens their link (GET: the confirm page) and
-- then claims it (POST), each request on a new connection (the caller adds "Connection: close").
-- Each wrk thread takes its own share of PATHS_FILE (one link path a line) and stops once it has
-- an answer for both requests of every link of its share. wrk asks for a thread's next request
-- whichever connection frees first, so a link's POST follows its GET by a block of BLOCK
-- requests (several times the connections of a thread): the GET has its answer by then, as a
-- person's page is on screen before they press the button.
-- Environment: PATHS_FILE, THREADS (set by bench/run.py).
local counter = 0
local BLOCK = 128

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function init(args)
  local all = {}
  for line in io.lines(os.getenv("PATHS_FILE")) do all[#all + 1] = line end
  local id, total = thread_id, tonumber(os.getenv("THREADS") or "2")
  local share = math.floor(#all / total)
  lines = {}
  for i = (id - 1) * share + 1, id * share do lines[#lines + 1] = all[i] end
  n, answered, sent_all = 0, 0, nil
end

function request()
  n = n + 1
  if n > 2 * #lines then
    -- Every link of the share is asked for; connections freed before the last answers arrive
    -- ask for the health check (a claim twice would be refused: 409). A request lost to a
    -- socket error (wrk counts it) is never answered: give up on it after wrk's timeout.
    sent_all = sent_all or os.time()
    if os.time() - sent_all > 6 then wrk.thread:stop() end
    return wrk.format("GET", "/healthz")
  end
  -- Requests 1..2B: GET of links 1..B, then POST of links 1..B; then the next block.
  local block, within = math.floor((n - 1) / (2 * BLOCK)), (n - 1) % (2 * BLOCK)
  local size = math.min(BLOCK, #lines - block * BLOCK)
  local index = block * BLOCK + within % size + 1
  if within < size then return wrk.format("GET", lines[index]) end
  return wrk.format("POST", lines[index], {["Content-Type"] = "application/x-www-form-urlencoded"},
                    "claim=1")
end

function response(status, headers, body)
  -- A link's answer is a page or a 303; the health check's is JSON.
  if status == 200 and body and body:sub(1, 1) == "{" then return end
  answered = answered + 1
  if answered >= 2 * #lines then wrk.thread:stop() end
end
