-- hello_sim.lua: list the tasks of each vendor through raw HTTP, one request per vendor, all
-- four at once. Run it with `./taskrun --sim scripts/hello_sim.lua [LINGER]`: --sim starts a local
-- taskrun-sim and sets the URL, token and account variables used below.
local http = taskrun.http

local function env(name)
  local v = os.getenv(name)
  if not v or v == "" then
    error(taskrun.error("usage", name .. " is not set; run this with taskrun --sim"))
  end
  return v
end

local function bearer(var)
  return { Authorization = "Bearer " .. env(var), Accept = "application/json" }
end

-- A fresh simulator has no tasks: give each vendor a few, through its admin API, so there is
-- something to list. (Against a real account you would skip this.)
local seeded = http.post(env("TASKRUN_SIM_URL") .. "/_sim/tasks", { json = {
  { provider = "redpanda", id = 7 }, { provider = "redpanda", id = 8 },
  { provider = "keycard", zone = "demo", id = "hellotask00000000000000000" },
  { provider = "astra", name = "astra.backup" },
  { provider = "bluexp" }, { provider = "bluexp" }, { provider = "bluexp" },
} })
assert(seeded.status == 201, "the simulator refused the demo tasks: " .. seeded.body)

local vendors = {
  { "redpanda mount tasks", function()
      local body = http.get(env("REDPANDA_DATAPLANE_URL") .. "/v1/cloud-storage/mount-tasks",
        { headers = bearer("REDPANDA_TOKEN") }):json()
      return #(body.tasks or body)
    end },
  { "keycard catalog task", function()
      local res = http.get(env("KEYCARD_API_URL")
        .. "/zones/demo/catalog_tasks/hellotask00000000000000000",
        { headers = bearer("KEYCARD_TOKEN") })
      return (res.status == 200 or res.status == 303) and 1 or 0
    end },
  { "astra tasks", function()
      local url = env("ASTRA_URL") .. "/accounts/" .. env("ASTRA_ACCOUNT_ID") .. "/core/v1/tasks"
      return #http.get(url, { headers = bearer("ASTRA_TOKEN") }):json().items
    end },
  { "bluexp restore jobs", function()
      local url = env("BLUEXP_URL") .. "/account/" .. env("BLUEXP_ACCOUNT_ID")
        .. "/providers/cloudmanager_cbs/api/v1/restore/status"
      local headers = bearer("BLUEXP_TOKEN")
      headers["x-agent-id"] = env("BLUEXP_AGENT_ID")
      local job = http.get(url, { headers = headers }):json().job
      return job.id and 1 or #job
    end },
}

local running = {}
for i, v in ipairs(vendors) do running[i] = taskrun.spawn(v[2]) end
for i, v in ipairs(vendors) do
  print(string.format("%-22s %d", v[1], running[i]:join()))
end

-- With a duration (`./taskrun --sim scripts/hello_sim.lua 10m`) the simulator stays up that
-- long, to try its API with curl from another terminal; Ctrl-C stops both.
local linger = arg[1]
if linger then
  print(string.format("simulator at %s for %s; Ctrl-C to stop", env("TASKRUN_SIM_URL"), linger))
  io.stdout:flush()
  taskrun.sleep(linger)
end
