-- Loaded by spec runbooks (dofile) to drive the simulator they run against: create tasks with
-- step lists, inject faults, read the request log. Runs inside ./taskrun.
local http = require("taskrun.http")

local base = assert(os.getenv("TASKRUN_SIM_URL"), "run this under taskrun --sim")
local sim = { url = base }

-- The spec's own voice: never held back by a Retry-After the simulated vendors answered.
local function admin(method, path, body)
  local res = http.request({ method = method, url = base .. path, json = body,
                             max_retry_after = 0 })
  if res.status >= 300 then
    error(string.format("sim admin %s %s: %d %s", method, path, res.status, res.body), 2)
  end
  return res.body ~= "" and res:json() or nil
end

-- Creates one task; returns the simulator's description (id as a string).
function sim.task(spec)
  return admin("POST", "/_sim/tasks", spec).tasks[1]
end

-- Seeds Redpanda topics: a name, { name = ... }, or a list of them.
function sim.topics(spec)
  return admin("POST", "/_sim/topics", spec)
end

function sim.fault(spec)
  return admin("POST", "/_sim/faults", spec)
end

function sim.clear_faults()
  admin("DELETE", "/_sim/faults")
end

function sim.config(settings)
  return admin("POST", "/_sim/config", settings)
end

-- The requests the simulator saw (admin calls excluded), optionally only those whose path
-- contains `part`.
function sim.requests(part)
  local out = {}
  for _, r in ipairs(admin("GET", "/_sim/requests").requests) do
    if not part or r.path:find(part, 1, true) then out[#out + 1] = r end
  end
  return out
end

-- Seconds between two request-log times ("2026-11-22T08:44:34.327Z").
function sim.gap(a, b)
  local function secs(t)
    local h, m, s = t:match("T(%d+):(%d+):([%d.]+)Z$")
    return tonumber(h) * 3600 + tonumber(m) * 60 + tonumber(s)
  end
  return secs(b.time) - secs(a.time)
end

return sim
