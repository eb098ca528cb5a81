-- Idle benchmark: what a wait costs while it only waits.
--
--   ./taskrun --sim --quiet --no-journal bench/idle.lua cpu [SECONDS]      (default 20)
--   ./taskrun --sim --quiet --no-journal bench/idle.lua memory [N]         (default 10000)
--
-- cpu: one taskrun.wait on a simulator task that never ends, interval 60 s; taskrun's CPU time
-- (os.clock) over SECONDS, from 1 s after the wait began (its first polls and the token are
-- start-up), and that scaled to a minute (x 60 / SECONDS). The polls that fell in the window
-- are counted (requests the simulator saw, less the one reading its counter); a real minute
-- has one or two (the jitter draws each delay from 30 to 60 s), each costing what a poll of
-- bench/poll.sh costs (well under 0.1 ms).
-- Row: "idle_cpu SECONDS cpu_ms polls cpu_ms_per_minute".
--
-- memory: N concurrent waits (wait_all) on simulator tasks that never end, interval 60 s, once
-- each has made its first poll and sleeps: the Lua heap (collectgarbage("count") after a full
-- collection) and the RSS (VmRSS) of taskrun, against the same process before the waits began;
-- the difference over N is the cost of one idle wait (its state, its Task and its place in
-- wait_all's due queue: a sleeping wait holds no coroutine and no timer, only the 256 workers
-- at most do). The RSS includes what the C side holds: libcurl's kept connections among it.
-- Row: "idle_memory N heap_kib rss_kib heap_bytes_per_wait rss_bytes_per_wait".
local what = arg[1] or "cpu"
local sim = assert(os.getenv("TASKRUN_SIM_URL"), "run this under taskrun --sim")
local http, json = taskrun.http, taskrun.json

local function admin(method, path, body)
  local res = http.request({ method = method, url = sim .. path, json = body, timeout = 120 })
  assert(res.status < 300, res.body)
  return res.body ~= "" and res:json() or nil
end

-- n BlueXP jobs that stay IN_PROGRESS; their ids.
local function make_jobs(n)
  local ids = {}
  for first = 1, n, 1000 do
    local specs = {}
    for _ = first, math.min(n, first + 999) do
      specs[#specs + 1] = { provider = "bluexp", mode = "poll", steps = { "IN_PROGRESS" } }
    end
    for _, t in ipairs(admin("POST", "/_sim/tasks", json.array(specs)).tasks) do
      ids[#ids + 1] = t.id
    end
  end
  return ids
end

local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

local function heap_kib()
  collectgarbage("collect")
  collectgarbage("collect")
  return collectgarbage("count")
end

local opts = { interval = 60, max_interval = 60, timeout = 7200 }

if what == "cpu" then
  local seconds = tonumber(arg[2] or "20")
  local id = make_jobs(1)[1]
  taskrun.spawn(function() return taskrun.bluexp.job(id):wait(opts) end)
  taskrun.sleep(1)   -- the client, its token and the first polls: start-up, not idling
  admin("POST", "/_sim/stats/reset")
  local c0 = os.clock()
  taskrun.sleep(seconds)
  local cpu = os.clock() - c0
  local polls = admin("GET", "/_sim/stats").requests - 1   -- less the GET that reads it
  print(string.format("idle_cpu %g %.3f %d %.3f", seconds, cpu * 1000, polls,
    cpu * 1000 * 60 / seconds))
  io.stdout:flush()
  os.exit(0)
elseif what == "memory" then
  local n = math.tointeger(tonumber(arg[2] or "10000"))
  local ids = make_jobs(n)
  local polled = 0
  local targets = {}
  for i, id in ipairs(ids) do
    targets[i] = function()
      local task = taskrun.bluexp.job(id)
      polled = polled + 1
      return task
    end
  end
  taskrun.bluexp.job(ids[1])   -- the client, its token and the modules, before the baseline
  local heap0, rss0 = heap_kib(), rss_kib()
  taskrun.spawn(function() return taskrun.wait_all(targets, opts) end)
  while polled < n do taskrun.sleep(0.05) end
  taskrun.sleep(0.5)   -- every wait back from its first poll and asleep
  local heap1, rss1 = heap_kib(), rss_kib()
  print(string.format("idle_memory %d %.0f %d %.0f %.0f", n, heap1 - heap0, rss1 - rss0,
    (heap1 - heap0) * 1024 / n, (rss1 - rss0) * 1024 / n))
  io.stdout:flush()
  os.exit(0)   -- n waits of 60 s each would keep the run going: nothing is left to measure
else
  error("usage: idle.lua cpu [SECONDS] | memory [N]")
end
