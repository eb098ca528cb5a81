-- restore_then_mount.lua: start a BlueXP restore, wait until it completes, then check a
-- Redpanda mount task. Try it with `./taskrun --sim scripts/restore_then_mount.lua`.
--
-- Usage: taskrun restore_then_mount.lua [MOUNT_TASK_ID]
-- Without an id it mounts the topic "orders" and follows the new mount task.
local bluexp, redpanda = taskrun.bluexp, taskrun.redpanda

-- Polls until the task is finished, printing each state change. (taskrun.wait does this with
-- backoff, jitter and deadlines once it lands; this loop is the plain version.)
local function wait_done(task, every, limit)
  local started = taskrun.now()
  print(string.format("%s: %s", tostring(task.id), task.state))
  while not task.done do
    if taskrun.now() - started > taskrun.duration(limit) then
      error(taskrun.error("timeout", string.format("%s task %s still %s after %s",
        task.provider, tostring(task.id), task.state, limit)))
    end
    taskrun.sleep(every)
    local last = task.state
    task = task:refresh()
    if task.state ~= last then
      print(string.format("%s: %s -> %s", tostring(task.id), last, task.state))
    end
  end
  return task
end

local restore = bluexp.start_restore({ restore = {
  type = "volume",
  source = { ["working-environment-id"] = "VsaWorkingEnvironment-demo", ["volume-name"] = "vol1",
             bucket = "backups", snapshot = "daily.0" },
  target = { ["working-environment-id"] = "VsaWorkingEnvironment-demo", svm = "svm1",
             ["volume-name"] = "vol1_restore" },
} })
taskrun.log.info("restore started", { job = restore.id })
restore = wait_done(restore, "500ms", "10m")
if not restore.ok then
  error(taskrun.error("failed", "restore job " .. restore.id .. " ended " .. restore.state
    .. (restore.message and (": " .. restore.message) or "")))
end

local mount
if arg[1] then
  mount = redpanda.mount_task(arg[1])
else
  mount = redpanda.mount_topics({ "orders" })
end
mount = wait_done(mount, "500ms", "10m")
print(string.format("mount task %d: %s (%s)%s", mount.id, mount.state, mount.status,
  mount.message and (" - " .. mount.message) or ""))
if not mount.ok then
  error(taskrun.error("failed", "mount task " .. mount.id .. " ended " .. mount.state))
end
