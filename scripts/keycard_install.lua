-- keycard_install.lua: install a catalog package into a zone and wait for its task; a
-- completed task answers 303 to the install, read here as success with install_id.
-- Usage: taskrun keycard_install.lua ZONE_ID PACKAGE_ID   (needs KEYCARD_TOKEN)
local keycard = taskrun.keycard

local zone, package = arg[1] or "zone-demo", arg[2] or "pkg_linear"
local task = keycard.install(zone, { package_id = package })
print("catalog task " .. task.id .. ": " .. task.state)
while not task.done do
  taskrun.sleep("500ms")
  task = task:refresh()
  print("catalog task " .. task.id .. ": " .. task.state)
end
if not task.ok then
  error(taskrun.error("failed", "install failed: " .. tostring(task.message)))
end
print("installed as " .. task.install_id .. " (" .. task.install_url .. ")")
