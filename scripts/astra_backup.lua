-- astra_backup.lua: back up an application, follow its astra.backup task, then list the
-- tasks still running in the account.
-- Usage: taskrun astra_backup.lua APP_ID   (needs ASTRA_TOKEN, ASTRA_ACCOUNT_ID)
local astra = taskrun.astra

local task = astra.backup(arg[1] or "app-demo", { name = "taskrun-demo" })
print(string.format("%s %s: %s %s%%", task.raw.name, task.id, task.state, tostring(task.progress)))
while not task.done do
  taskrun.sleep("500ms")
  task = task:refresh()
  print(string.format("%s %s: %s %s%%", task.raw.name, task.id, task.state, tostring(task.progress)))
end
for _, t in ipairs(astra.tasks({ include = { "id", "name", "state" }, filter = { state = "running" } })) do
  print("still running: " .. t.raw.name .. " " .. t.id)
end
if not task.ok then error(taskrun.error("failed", "backup ended " .. task.state)) end
