-- astra_backup.lua: back up an application, wait for its astra.backup task, then list the
-- tasks still running in the account.
-- Usage: taskrun astra_backup.lua [APP_ID]   (default: app-demo)
--   needs ASTRA_URL, ASTRA_TOKEN, ASTRA_ACCOUNT_ID
-- Try it without an account: ./taskrun --sim scripts/astra_backup.lua
local astra = taskrun.astra

local app = arg[1] or "app-demo"
local task = astra.backup(app, { name = "taskrun-backup" })

-- Astra reports percentDone; the wait logs it with each state change. A failed backup raises
-- (exit 3), so the lines below only run after a completed one.
task = task:wait({ interval = "1s", max_interval = "1m", timeout = "2h" })
print(string.format("backup of %s: %s (task %s)", app, task.state, task.id))

local running = astra.tasks({ include = { "id", "name", "state" }, filter = { state = "running" } })
print(string.format("%d task%s still running in the account", #running,
  #running == 1 and "" or "s"))
for _, t in ipairs(running) do
  print("  " .. t.raw.name .. " " .. t.id)
end
