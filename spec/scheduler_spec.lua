-- Tasks on one loop: spawn, join, cancel, sleep, and the places Lua cannot yield.
local H = require("harness")

local function run(script, opts)
  opts = opts or {}
  opts.script = script
  return H.run(opts)
end

describe("the scheduler", function()
  it("runs 1,000 tasks that each sleep 0.5s together: all start before any wakes", function()
    local r = run([[
      local started, woke, done = {}, {}, 0
      local hs = {}
      for i = 1, 1000 do
        hs[i] = taskrun.spawn(function()
          started[i] = taskrun.now()
          taskrun.sleep(0.5)
          woke[i] = taskrun.now()
          return i
        end)
      end
      local sum = 0
      for i = 1, 1000 do sum = sum + hs[i]:join(); done = done + 1 end
      local last_start, first_wake = 0, math.huge
      for i = 1, 1000 do
        last_start = math.max(last_start, started[i])
        first_wake = math.min(first_wake, woke[i])
      end
      print(done, sum, last_start < first_wake)
    ]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("1000\t500500\ttrue\n", r.stdout)
  end)

  it("join returns a task's results, many of them, nil included", function()
    local r = run([[
      local h = taskrun.spawn(function(a, b) taskrun.sleep(0) return a, nil, b end, 1, 2)
      print(select("#", h:join()), h:join())
      print(h.id, h:status(), tostring(h))
    ]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("3\t1\tnil\t2\n2\tdone\ttask 2 (done)\n", r.stdout)
  end)

  it("join re-raises a task's error with the task's own traceback", function()
    local r = run([[
      local h = taskrun.spawn(function()
        taskrun.sleep(0)
        error("deep failure")
      end)
      local ok, err = pcall(h.join, h)
      print(ok, err:match("deep failure") ~= nil, err:match("in task 2") ~= nil)
      print(err:match("%.lua:3: in function") ~= nil)
      local h2 = taskrun.spawn(function() error(taskrun.error("failed", "restore failed")) end)
      local ok2, e2 = pcall(h2.join, h2)
      print(ok2, e2.kind, e2.message, e2.traceback ~= nil)
    ]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("false\ttrue\ttrue\ntrue\nfalse\tfailed\trestore failed\ttrue\n", r.stdout)
    assert.are.equal("", r.stderr)
  end)

  it("reports a failed task nobody joins at once, with its traceback, and fails the run", function()
    local path = H.write_tmp([[
taskrun.spawn(function()
  error("boom")
end)
taskrun.sleep(0.05)
print("main went on")
]], ".lua")
    local r = H.run({ script_path = path })
    assert.are.equal(1, r.code)
    assert.are.equal("main went on\n", r.stdout)
    assert.matches("task 2 failed: " .. path .. ":2: boom", r.stderr, 1, true)
    assert.matches("stack traceback:", r.stderr, 1, true)
    assert.matches(path .. ":2: in function", r.stderr, 1, true)
  end)

  it("exits 0 when a failed task is joined and its error handled", function()
    local r = run([[
      local h = taskrun.spawn(function() error("handled") end)
      taskrun.sleep(0.01)
      print(pcall(h.join, h))
    ]])
    assert.are.equal(0, r.code)
    assert.matches("^false\t.*handled", r.stdout)
  end)

  it("waits for spawned tasks to finish after the main chunk returns", function()
    local r = run([[
      taskrun.spawn(function() taskrun.sleep(0.05) print("late task finished") end)
      print("main returned")
    ]])
    assert.are.equal(0, r.code)
    assert.are.equal("main returned\nlate task finished\n", r.stdout)
  end)

  it("cancels a task: its <close> handlers run and pcall inside it does not catch it", function()
    local r = run([[
      local h = taskrun.spawn(function()
        local c <close> = setmetatable({}, { __close = function() print("closed") end })
        local ok = pcall(taskrun.sleep, 60)
        print("pcall returned", ok)
      end)
      taskrun.sleep(0.01)
      print(h:cancel(), h:status())
      local ok, err = pcall(h.join, h)
      print(ok, err.kind)
      print(h:cancel())
    ]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("closed\ntrue\tcancelled\nfalse\tcancelled\nfalse\n", r.stdout)
  end)

  it("keeps a runbook's own coroutine.wrap and resume working around waits", function()
    local r = run([[
      local gen = coroutine.wrap(function()
        for i = 1, 3 do taskrun.sleep(0) coroutine.yield(i) end
      end)
      print(gen(), gen(), gen())
      local co = coroutine.create(function(a)
        local inner = coroutine.wrap(function() taskrun.sleep(0.01) return "inner" end)
        local b = coroutine.yield(a .. inner())
        return b * 2
      end)
      print(coroutine.resume(co, "x"))
      print(coroutine.resume(co, 21))
      print(coroutine.status(co))
      local bad = coroutine.wrap(function() taskrun.sleep(0) error("inside wrap") end)
      print(pcall(bad))
    ]])
    assert.are.equal(0, r.code, r.stderr)
    local expected = "1\t2\t3\ntrue\txinner\ntrue\t42\ndead\nfalse\t"
    assert.are.equal(expected, r.stdout:sub(1, #expected))
    assert.matches("inside wrap", r.stdout, 1, true)
  end)

  it("lets other tasks run while a runbook coroutine waits", function()
    local r = run([[
      local order = {}
      local h = taskrun.spawn(function()
        local co = coroutine.wrap(function() taskrun.sleep(0.05) order[#order + 1] = "inner" end)
        co()
      end)
      taskrun.spawn(function() order[#order + 1] = "other" end)
      h:join()
      taskrun.sleep(0)
      print(table.concat(order, ","))
    ]])
    assert.are.equal("other,inner\n", r.stdout)
  end)

  it("raises a clear error, not a crash, when waiting where Lua cannot yield", function()
    local r = run([[
      print(pcall(table.sort, { 3, 1, 2 }, function(a, b) taskrun.sleep(0) return a < b end))
      print(pcall(string.gsub, "ab", ".", function(c) taskrun.sleep(0) end))
      local co = coroutine.wrap(function() taskrun.sleep(0) return 1 end)
      print(pcall(table.sort, { 3, 1, 2 }, function(a, b) co() return a < b end))
      print("still running")
    ]])
    assert.are.equal(0, r.code, r.stderr)
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.matches("^false\tusage: cannot wait here: taskrun.sleep was called inside", lines[1])
    assert.matches("^false\tusage: cannot wait here", lines[2])
    assert.matches("^false\t.*cannot wait here", lines[3])
    assert.are.equal("still running", lines[4])
  end)

  it("logs a wait attempted in __gc as a warning instead of crashing", function()
    local r = run([[
      do setmetatable({}, { __gc = function() taskrun.sleep(0) end }) end
      collectgarbage()
      collectgarbage()
      print("after gc")
    ]])
    assert.are.equal(0, r.code)
    assert.are.equal("after gc\n", r.stdout)
    assert.matches("WARN.*cannot wait here", r.stderr)
  end)

  it("detects a join cycle instead of hanging", function()
    local r = run([[
      local a
      local b = taskrun.spawn(function() taskrun.sleep(0) return a:join() end)
      a = taskrun.spawn(function() return b:join() end)
      b:join()
    ]])
    assert.are.equal(1, r.code)
    assert.matches("deadlock", r.stderr, 1, true)
  end)

  it("refuses a task joining or cancelling itself", function()
    local r = run([[
      local me
      me = taskrun.spawn(function()
        taskrun.sleep(0)
        print(pcall(me.join, me))
        print(pcall(me.cancel, me))
      end)
      me:join()
    ]])
    assert.matches("usage: task 2 cannot join itself", r.stdout, 1, true)
    assert.matches("usage: task 2 cannot cancel itself", r.stdout, 1, true)
  end)

  it("yield lets every other ready task run once", function()
    local r = run([[
      local seen = {}
      for i = 1, 3 do taskrun.spawn(function() seen[#seen + 1] = i end) end
      taskrun.yield()
      print(#seen)
    ]])
    assert.are.equal("3\n", r.stdout)
  end)

  it("refuses a coroutine.yield at the top of a task with a usage error", function()
    local r = run("coroutine.yield(1)")
    assert.are.equal(2, r.code)
    assert.matches("coroutine.yield was called outside any coroutine", r.stderr, 1, true)
  end)
end)

describe("durations", function()
  it("accepts seconds and unit strings", function()
    local r = run([[
      for _, d in ipairs({ 1.5, 0, "250ms", "30s", "5m", "1h30m", "2h", "1m30s", "10" }) do
        io.write(taskrun.duration(d), " ")
      end
    ]])
    assert.are.equal("1.5 0 0.25 30 300 5400 7200 90 10 ", r.stdout)
  end)

  it("raises kind usage for malformed durations", function()
    local r = run([[
      for _, d in ipairs({ "5x", "", "m", "1h-5m", -1, "abc", {}, "1.5.5s", 0/0, math.huge }) do
        local ok, err = pcall(taskrun.sleep, d)
        io.write(tostring(ok), ":", err.kind, " ")
      end
    ]])
    assert.are.equal(string.rep("false:usage ", 10), r.stdout)
  end)
end)
