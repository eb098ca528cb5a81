-- restore_then_mount.lua: restore a volume from a BlueXP backup, wait until the restore has
-- completed, then mount the topic "orders" from object storage in Redpanda (or follow a mount
-- task that is already under way) and wait for that too.
--
-- Usage: taskrun restore_then_mount.lua [MOUNT_TASK_ID]
--   needs BLUEXP_URL, BLUEXP_TOKEN, BLUEXP_ACCOUNT_ID, BLUEXP_AGENT_ID,
--         REDPANDA_DATAPLANE_URL, REDPANDA_TOKEN
-- Try it without an account: ./taskrun --sim scripts/restore_then_mount.lua
--
-- Progress (each state change, retries, a heartbeat on long waits) is logged on stderr by
-- taskrun.wait; stdout gets one result line per step, for a cron mail or the next command.
-- Exit codes: 0 done, 3 a task failed or was cancelled, 4 a wait timed out, 5 a token was
-- refused, 1 anything else (a mount task that is not there, the service unreachable).
local bluexp, redpanda = taskrun.bluexp, taskrun.redpanda

local mount_task_id = arg[1]
-- Say so now, not after a restore of several hours.
if mount_task_id and not math.tointeger(tonumber(mount_task_id)) then
  error(taskrun.error("usage", "MOUNT_TASK_ID must be a Redpanda mount task number, got "
    .. mount_task_id))
end

-- 1. The restore. Edit the source (which backup) and the target (where to) for your system.
local source = { ["working-environment-id"] = "VsaWorkingEnvironment-demo",
                 ["volume-name"] = "vol1", bucket = "backups", snapshot = "daily.0" }
local target = { ["working-environment-id"] = "VsaWorkingEnvironment-demo", svm = "svm1",
                 ["volume-name"] = "vol1_restore" }
local restore = bluexp.start_restore({ restore = { type = "volume", source = source,
                                                   target = target } })
taskrun.log.info(string.format("restoring volume %s (snapshot %s) to %s/%s as job %s",
  source["volume-name"], source.snapshot, target.svm, target["volume-name"], restore.id))

-- Check every second at first, backing off to once a minute: a big restore takes hours.
-- A FAILED job raises with BlueXP's own error text, so nothing below runs on a bad restore.
restore = taskrun.wait(restore, { interval = "1s", max_interval = "1m", timeout = "6h" })
print(string.format("restore job %s: %s", restore.id, restore.state))

-- 2. The mount. Mount "orders" unless we were given a mount task to follow.
local mount
if mount_task_id then
  mount = redpanda.mount_task(mount_task_id)
  taskrun.log.info("following mount task " .. mount.id)
else
  mount = redpanda.mount_topics({ "orders" })
  taskrun.log.info("mounting topic orders as mount task " .. mount.id)
end

-- Redpanda deletes a mount task the moment it finishes: when it is gone, taskrun checks the
-- topic list for the mounted topics. Redpanda waits poll every 1 s to 5 s by default.
mount = mount:wait({ timeout = "1h" })
print(string.format("mount task %d: %s%s", mount.id, mount.state,
  mount.message and (" - " .. mount.message) or ""))
