-- Fan-out benchmark: N concurrent taskrun.wait_all waits, spread evenly over the four
-- providers, against the simulator, through the real provider modules.
--
--   ./taskrun --sim --quiet bench/fanout.lua [N [BASE]]   (defaults: N = 1000, BASE = 100)
--
-- (--quiet: no progress lines and no live status block, whose cost is not the one measured.)
-- The same runbook runs twice in this process against one simulator: first BASE waits (the
-- baseline: few waits, an idle loop), then N. Each run prints one row (its first four columns,
-- "fanout N wall cpu", are what bench/journal.sh reads):
--   wall_s     wall time of the wait_all, to the millisecond
--   cpu_s      CPU time of taskrun (os.clock), to the millisecond
--   rss_MiB    peak RSS of taskrun (VmHWM, reset before each run where the kernel allows)
--   requests   requests the simulator received
--   polling    the most fetches under way at once in the runbook (a queued request counts)
--   inflight   the most requests in flight at once at the simulator (/_sim/stats max_inflight)
--   conns      connections the simulator accepted, and the most open at once
--              (/_sim/stats connections, max_open_connections; "n/a" from a simulator without)
--   us/req     taskrun CPU per request
--   sim_cpu    CPU seconds of the simulator (/proc/PID/stat utime + stime)
--   sim_MiB    peak RSS of the simulator (its VmHWM, reset before each run the same way)
-- then the ratio of N to the baseline. Timing covers the wait only: creating the tasks and
-- reading the counters are left out.
--
-- Every task is in the simulator's poll mode with STEPS reads to its terminal state, and each
-- Redpanda task, gone on its last read, is verified by one read of the topic list (what
-- redpanda.mount_task does for a task it saw): a run makes exactly that many requests when
-- nothing is retried, and any excess is a retry.
local http = taskrun.http
local json = taskrun.json

local N = math.tointeger(tonumber(arg[1] or "1000"))
local BASE = math.tointeger(tonumber(arg[2] or "100"))
assert(N and N > 0 and BASE and BASE > 0, "usage: fanout.lua [N [BASE]] (positive integers)")
local sim_url = assert(os.getenv("TASKRUN_SIM_URL"), "run this under taskrun --sim")

-- Three reads in progress, then done. The redpanda task is deleted after its cut-over, as
-- Redpanda does: its 4th read is a 404 that the module reads as finished.
local STEPS = 4
local steps = {
  redpanda = { "STATE_PLANNED", "STATE_PREPARING", "STATE_CUT_OVER", "gone" },
  keycard = { "pending", "running", "running", "completed" },
  astra = { { state = "running", percentDone = 0 }, { state = "running", percentDone = 50 },
            { state = "running", percentDone = 90 }, "completed" },
  bluexp = { "PENDING", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" },
}
local providers = { "redpanda", "keycard", "astra", "bluexp" }
local ZONE = "zone-bench"

-- 1 s, then about 2 s and 4 s (jitter: x0.5..1, never under 1 s): a run takes ~5-8 s of
-- schedule, so any extra wall time is the cost of the fan-out itself.
local wait_opts = { interval = 1, max_interval = 4, backoff = 2, timeout = 300 }

local function admin(method, path, body)
  local res = http.request({ method = method, url = sim_url .. path, json = body,
                             timeout = 120 })
  if res.status >= 300 then
    error(string.format("sim %s %s: %d %s", method, path, res.status, res.body))
  end
  return res.body ~= "" and res:json() or nil
end

-- Creates n tasks round-robin over the providers; returns one fetch function per task. A
-- function target (not a Task) lets wait_all make the first read inside each wait, so the
-- reads are concurrent rather than n sequential GETs here.
local inflight, peak_inflight = 0, 0

-- Counts the requests in flight at once: the fetch is the only place a request is made.
local function counted(fetch)
  return function()
    inflight = inflight + 1
    if inflight > peak_inflight then peak_inflight = inflight end
    local ok, task = pcall(fetch)
    inflight = inflight - 1
    if not ok then error(task, 0) end
    return task
  end
end

local function make_targets(n)
  local targets = {}
  local chunk = 1000   -- keeps each admin body far below the simulator's 4 MiB cap
  for first = 1, n, chunk do
    local specs = {}
    for i = first, math.min(n, first + chunk - 1) do
      local p = providers[(i - 1) % #providers + 1]
      specs[#specs + 1] = { provider = p, mode = "poll", steps = steps[p],
                            zone = p == "keycard" and ZONE or nil }
    end
    for _, t in ipairs(admin("POST", "/_sim/tasks", json.array(specs)).tasks) do
      local id = t.id
      local fetch
      if t.provider == "redpanda" then
        id = math.tointeger(tonumber(id))
        fetch = function() return taskrun.redpanda.mount_task(id) end
      elseif t.provider == "keycard" then
        fetch = function() return taskrun.keycard.catalog_task(ZONE, id) end
      elseif t.provider == "astra" then
        fetch = function() return taskrun.astra.task(id) end
      else
        fetch = function() return taskrun.bluexp.job(id) end
      end
      targets[#targets + 1] = counted(fetch)
    end
  end
  assert(#targets == n, "the simulator made " .. #targets .. " tasks, not " .. n)
  return targets
end

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local self_pid = read_file("/proc/self/stat"):match("^(%d+)")

-- The simulator is our only child (--sim forks it): its pid, or nil.
local function sim_pid()
  local children = read_file(string.format("/proc/%s/task/%s/children", self_pid, self_pid))
  return children and children:match("(%d+)")
end

-- The simulator's CPU seconds from /proc, or nil.
local function sim_cpu()
  local pid = sim_pid()
  local stat = pid and read_file("/proc/" .. pid .. "/stat")
  if not stat then return nil end
  -- Fields after the ")" of the command name: utime and stime are the 12th and 13th.
  local rest = stat:match("%) (.*)$")
  local f = {}
  for w in rest:gmatch("%S+") do f[#f + 1] = w end
  return (tonumber(f[12]) + tonumber(f[13])) / 100   -- USER_HZ is 100 on Linux
end

local function vm_kib(field, pid)
  local status = read_file("/proc/" .. (pid or "self") .. "/status")
  return status and tonumber(status:match(field .. ":%s*(%d+)"))
end

-- Resets VmHWM to the current RSS (Linux 4.0+) of this process (or of pid), so each run
-- reports its own peak; false if the kernel does not allow it (the peak is then that of the
-- whole process so far).
local function reset_peak(pid)
  local f = io.open("/proc/" .. (pid or "self") .. "/clear_refs", "w")
  if not f then return false end
  local ok = f:write("5") and f:close()
  return ok and true or false
end

local function run(n)
  admin("DELETE", "/_sim/tasks")
  local targets = make_targets(n)
  collectgarbage()
  local peak_reset = reset_peak()
  local spid = sim_pid()
  if spid then reset_peak(spid) end
  admin("POST", "/_sim/stats/reset")
  peak_inflight = 0
  local sim0, cpu0, t0 = sim_cpu(), os.clock(), taskrun.now()

  local results = taskrun.wait_all(targets, wait_opts)

  local wall, cpu, sim1 = taskrun.now() - t0, os.clock() - cpu0, sim_cpu()
  local rss = vm_kib("VmHWM")
  local sim_rss = spid and vm_kib("VmHWM", spid)
  -- The counter includes the GET that reads it; the reset call zeroed it after counting.
  local stats = admin("GET", "/_sim/stats")
  local requests = stats.requests - 1
  for i = 1, n do
    assert(results[i] and results[i].ok, "target " .. i .. " did not end well")
  end
  return { n = n, wall = wall, cpu = cpu, rss_mib = rss / 1024, requests = requests,
           sim_cpu = sim0 and sim1 and (sim1 - sim0), polling = peak_inflight,
           inflight = stats.max_inflight, conns = stats.connections,
           max_open = stats.max_open_connections, sim_mib = sim_rss and sim_rss / 1024,
           peak_reset = peak_reset }
end

local function fmt(v, pattern) return v and string.format(pattern, v) or "n/a" end

local function row(label, r)
  local conns = r.conns and string.format("%d/%d", r.conns, r.max_open or 0) or "n/a"
  print(string.format("%-9s %7d %8.3f %8.3f %8.1f %9d %8d %8s %11s %7.0f %8s %8s", label, r.n,
    r.wall, r.cpu, r.rss_mib, r.requests, r.polling, fmt(r.inflight, "%d"), conns,
    r.cpu / r.requests * 1e6, fmt(r.sim_cpu, "%.2f"), fmt(r.sim_mib, "%.1f")))
end

local cpu_model = (read_file("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "?"
local cores = 0
for _ in (read_file("/proc/cpuinfo") or ""):gmatch("\nprocessor%s*:") do cores = cores + 1 end
if (read_file("/proc/cpuinfo") or ""):match("^processor") then cores = cores + 1 end

local base = run(BASE)
local big = run(N)

print(string.format("fanout: wait_all over redpanda/keycard/astra/bluexp, %d reads per task, "
  .. "interval 1s..4s; %d cores, %s; taskrun-sim shares the cores", STEPS, cores, cpu_model))
print(string.format("%-9s %7s %8s %8s %8s %9s %8s %8s %11s %7s %8s %8s", "run", "waits",
  "wall_s", "cpu_s", "rss_MiB", "requests", "polling", "inflight", "conns/open", "us/req",
  "sim_cpu", "sim_MiB"))
row("baseline", base)
row("fanout", big)
local function per(r, key) return r[key] / r.requests end
print(string.format("ratio fanout/baseline: waits x%.0f, requests x%.1f, wall x%.2f, "
  .. "taskrun CPU per request x%.2f, peak RSS x%.1f", big.n / base.n,
  big.requests / base.requests, big.wall / base.wall, per(big, "cpu") / per(base, "cpu"),
  big.rss_mib / base.rss_mib))
-- The targets go round the providers, Redpanda first.
local function expected(n) return n * STEPS + (n + #providers - 1) // #providers end
print(string.format("per request: taskrun %.0f us CPU (baseline %.0f us); expected %d requests "
  .. "(%d reads, %d topic lists), got %d (%d retried); peak RSS %s", per(big, "cpu") * 1e6,
  per(base, "cpu") * 1e6, expected(big.n), big.n * STEPS, expected(big.n) - big.n * STEPS,
  big.requests, big.requests - expected(big.n), big.peak_reset and "per run" or "of the process"))
