-- hello_sim.lua: list the tasks of each vendor, one list per vendor, all four at once. Run it
-- with `./taskrun --sim scripts/hello_sim.lua [LINGER]`: --sim starts a local taskrun-sim and
-- sets the URL, credential and account variables the providers read; each provider obtains its
-- own token from the simulator first.
local http = taskrun.http

local function env(name)
  local v = os.getenv(name)
  if not v or v == "" then
    error(taskrun.error("usage", name .. " is not set; run this with taskrun --sim"))
  end
  return v
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
  { "redpanda mount tasks", function() return #taskrun.redpanda.mount_tasks() end },
  { "keycard catalog task", function()
      local task = taskrun.keycard.catalog_task("demo", "hellotask00000000000000000")
      return task and 1 or 0
    end },
  { "astra tasks", function() return #taskrun.astra.tasks() end },
  { "bluexp restore jobs", function() return #taskrun.bluexp.restore_jobs() end },
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
