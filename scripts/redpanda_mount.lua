-- redpanda_mount.lua: mount topics from object storage and follow the mount task to its end.
-- Usage: taskrun redpanda_mount.lua TOPIC [TOPIC...]   (needs REDPANDA_DATAPLANE_URL, REDPANDA_TOKEN)
local redpanda = taskrun.redpanda

local topics = #taskrun.args > 0 and taskrun.args or { "orders" }
local task = redpanda.mount_topics(topics)
print("mount task " .. task.id .. ": " .. task.state)
while not task.done do
  taskrun.sleep("500ms")
  local before = task.state
  task = task:refresh()
  if task.state ~= before then print("mount task " .. task.id .. ": " .. task.state) end
end
print(task.ok and "mounted" or ("ended " .. task.status), task.message or "")
