-- The canonical runbook of spec/crash_spec.lua: an explicit step, a BlueXP restore and its wait,
-- an explicit step, a Redpanda mount and its wait, an explicit step; then one outcome line.
-- The spec kills it with SIGKILL at any point and runs it again until it ends.
--
-- arg[1]: the counter file. Each explicit step's function appends "<name> <attempt>" there as
-- its last act: the side effect a resumed run must not repeat, and which attempt of the run
-- (taskrun.run.attempt) did it.
local bluexp, redpanda = taskrun.bluexp, taskrun.redpanda
local counter = assert(arg[1], "usage: crash.lua COUNTER_FILE")

local function explicit(name)
  return taskrun.step(name, function()
    local f = assert(io.open(counter, "a"))
    f:write(name, " ", taskrun.run.attempt, "\n")
    f:close()
    return name
  end)
end

-- The simulator's tasks run fast (the spec starts it with --speed): poll often.
local fast = { interval = 0.02, max_interval = 0.05, timeout = "60s" }

explicit("prepare")
local restore = bluexp.start_restore({ restore = {
  type = "volume",
  source = { ["working-environment-id"] = "VsaWorkingEnvironment-crash", ["volume-name"] = "vol1",
             snapshot = "daily.0" },
  target = { ["working-environment-id"] = "VsaWorkingEnvironment-crash", svm = "svm1",
             ["volume-name"] = "vol1_restore" },
} })
restore = taskrun.wait(restore, fast)
explicit("between")
local mount = redpanda.mount_topics({ { source_topic_reference = "orders",
                                        alias = "orders_restored" } })
mount = taskrun.wait(mount, fast)
explicit("done")
-- Flushed before the run's end is journaled: a kill after that finds the line in the pipe.
print(string.format("outcome restore=%s mount=%s", tostring(restore.state),
  tostring(mount.state)))
io.stdout:flush()
