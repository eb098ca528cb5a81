-- redpanda_mount.lua: mount topics from object storage and wait until the mount task is done.
-- Usage: taskrun redpanda_mount.lua [TOPIC...]   (default: orders)
--   needs REDPANDA_DATAPLANE_URL, REDPANDA_TOKEN
-- Try it without an account: ./taskrun --sim scripts/redpanda_mount.lua
local redpanda = taskrun.redpanda

local topics = #taskrun.args > 0 and taskrun.args or { "orders" }
local task = redpanda.mount_topics(topics)

-- Redpanda has no failed state (it retries for ever), so the deadline is what ends a stuck
-- mount: exit 4. It also deletes a finished task: taskrun checks the topic list when the task
-- is gone, and Redpanda waits poll every 1 s to 5 s unless told otherwise.
task = task:wait({ timeout = "1h" })
print(string.format("mounted %s: mount task %d %s%s", table.concat(topics, ", "), task.id,
  task.state, task.message and (" - " .. task.message) or ""))
