-- A runbook touching most of the runtime at once (tasks, waits over HTTP, coroutines, commands,
-- cancel, errors, JSON), for `make valgrind`: run under valgrind against --sim, it must report
-- no error and no leak.
local json = taskrun.json
local sim = dofile("spec/support/simctl.lua")
local hs = {}
for i = 1, 20 do
  hs[i] = taskrun.spawn(function()
    taskrun.sleep(0.01 * i)
    local t = sim.task({ provider = "bluexp", steps = { "PENDING", "IN_PROGRESS", "COMPLETED" } })
    local task = taskrun.bluexp.job(t.id)
    return task:wait({ interval = "20ms", max_interval = "40ms", timeout = "30s" }).status
  end)
end
local co = coroutine.wrap(function() taskrun.sleep(0.01) coroutine.yield(1) return 2 end)
print(co(), co())
local ok, err = pcall(taskrun.redpanda.mount_task, "0x10")
print(ok, err.kind)
print(os.execute("true"), io.popen("echo hi"):read("a"))
local h = taskrun.spawn(function() taskrun.sleep(5) end)
h:cancel()
local bad = taskrun.spawn(function() error(taskrun.error("failed", "boom")) end)
print(pcall(bad.join, bad))
print(json.encode(json.decode('{"a":[1,2,9007199254740993]}')))
local n = 0
for i = 1, 20 do if hs[i]:join() == "succeeded" then n = n + 1 end end
print("waits", n)
-- The journal: explicit steps (held and batched), a failed step, a journaled provider call.
local sum = 0
for i = 1, 50 do sum = sum + taskrun.step("item", function() return i end) end
print("steps", sum, pcall(taskrun.step, "bad", function() error("no") end))
local restore = taskrun.bluexp.start_restore({ restore = { type = "volume",
  source = { ["volume-name"] = "v1", snapshot = "s1" },
  target = { svm = "svm1", ["volume-name"] = "v1r", ["working-environment-id"] = "we1" } } })
print("restore", restore:wait({ interval = "20ms", timeout = "30s" }).status)
