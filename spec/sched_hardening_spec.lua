-- The scheduler against runbooks that misbehave on purpose: error objects that raise, tasks
-- cancelled or joined from odd places, coroutines resumed by the wrong task, finalizers that
-- cancel, memory that runs out. Each ends the way the README says, never in a crash.
local H = require("harness")

local function run(script, opts)
  opts = opts or {}
  opts.script = script
  return H.run(opts)
end

-- No abort, no signal, no sanitizer report (the ASan build prints one and exits non-zero).
local function assert_clean(r)
  assert.is_true(r.code < 128, "died of a signal or abort: " .. r.code .. "\n" .. r.stderr)
  assert.not_matches("PANIC", r.stderr, 1, true)
  assert.not_matches("Sanitizer", r.stderr, 1, true)
  assert.not_matches("runtime error:", r.stderr, 1, true)
  assert.not_matches("stack effect", r.stderr, 1, true)
end

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

describe("error tables from tasks", function()
  it("three tasks raising taskrun.error, joined in order: each join raises its own error", function()
    local r = run([[
      local hs = {}
      for i = 1, 3 do
        hs[i] = taskrun.spawn(function()
          taskrun.sleep(0)
          error(taskrun.error("http", "bad " .. i, { status = 500 + i }))
        end)
      end
      for i = 1, 3 do
        local ok, err = pcall(hs[i].join, hs[i])
        print(i, ok, tostring(err), err.status)
      end
    ]])
    assert_clean(r)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("1\tfalse\thttp: bad 1\t501\n2\tfalse\thttp: bad 2\t502\n"
      .. "3\tfalse\thttp: bad 3\t503\n", r.stdout)
    -- Tasks 3 and 4 failed while main waited for task 2: reported at once, as themselves.
    assert.matches("task 4 failed: http: bad 3", r.stderr, 1, true)
    assert.not_matches("function: 0x", r.stderr, 1, true)
    assert.not_matches("<close> handler failed", r.stderr, 1, true)
  end)

  it("an unjoined failed task decides the exit code by its kind when main ends well", function()
    for kind, code in pairs({ auth = 5, failed = 3, timeout = 4, usage = 2, http = 1 }) do
      local r = run(([[
        taskrun.spawn(function() error(taskrun.error("%s", "refused by the vendor")) end)
        taskrun.sleep(0)
        print("main done")
      ]]):format(kind))
      assert_clean(r)
      assert.are.equal(code, r.code, kind .. ": " .. r.stderr)
      assert.are.equal("main done\n", r.stdout)
      assert.matches("task 2 failed: " .. kind .. ": refused by the vendor", r.stderr, 1, true)
    end
  end)

  it("the first failure nobody joined decides; one joined later no longer counts", function()
    local r = run([[
      local a = taskrun.spawn(function() error(taskrun.error("auth", "first")) end)
      taskrun.spawn(function() taskrun.sleep(0) error(taskrun.error("timeout", "second")) end)
      taskrun.spawn(function() taskrun.sleep(0) taskrun.sleep(0) error("third") end)
      taskrun.sleep(0.02)
      print(pcall(a.join, a))
    ]])
    assert_clean(r)
    -- auth was joined: the timeout, the first of the others to fail, decides.
    assert.are.equal(4, r.code, r.stderr)
    assert.matches("^false\tauth: first\n$", r.stdout)
  end)

  it("thousands of unjoined failures leave the scheduler's stack balanced", function()
    local r = run([[
      for i = 1, 3000 do
        taskrun.spawn(function() error(taskrun.error("failed", "boom " .. i)) end)
      end
    ]])
    assert_clean(r)
    assert.are.equal(3, r.code)
    assert.are.equal(3000, count(r.stderr, "task %d+ failed: failed: boom %d+\n"))
    assert.not_matches("function: 0x", r.stderr, 1, true)
  end)
end)

describe("error objects that raise", function()
  it("an error whose __tostring raises ends the run with exit 1 and says so", function()
    local r = run([[
      error(setmetatable({}, { __tostring = function() error("tostring boom") end }))
    ]])
    assert_clean(r)
    assert.are.equal(1, r.code)
    assert.matches("__tostring raised: .*tostring boom", r.stderr)
  end)

  it("an error whose __index raises, or whose __tostring returns no string, likewise", function()
    local r = run([[
      local evil = setmetatable({}, { __index = function() error("index boom") end })
      local h = taskrun.spawn(function() error(evil) end)
      print(select(2, pcall(h.join, h)) == evil)
      taskrun.spawn(function() error(setmetatable({}, { __tostring = function() return {} end })) end)
      taskrun.sleep(0)
      error(evil)
    ]])
    assert_clean(r)
    assert.are.equal(1, r.code)
    assert.are.equal("true\n", r.stdout)
    assert.matches("task 3 failed: (error object is a table value whose __tostring raised",
      r.stderr, 1, true)
    assert.matches("taskrun: table: 0x", r.stderr, 1, true)
  end)
end)

describe("cancel and join from odd places", function()
  it("a cancelled task nobody refers to any more is never resumed", function()
    local r = run([[
      local hs = {}
      for i = 1, 500 do hs[i] = taskrun.spawn(function() print("ran", i) end) end
      for i = 1, 500 do hs[i]:cancel() end
      hs = nil
      collectgarbage()
      collectgarbage()
      -- New tasks may take the memory the cancelled ones had.
      local n = 0
      for i = 1, 500 do taskrun.spawn(function() n = n + 1 end) end
      taskrun.yield()
      print("new tasks ran", n)
    ]])
    assert_clean(r)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("new tasks ran\t500\n", r.stdout)
  end)

  it("a join refused inside table.sort leaves nothing behind", function()
    local r = run([[
      local h = taskrun.spawn(function() taskrun.sleep(0.01) return "target done" end)
      local ok, err = pcall(table.sort, { 3, 2, 1 }, function(a, b) h:join() return a < b end)
      print(ok, err.kind)
      collectgarbage()
      collectgarbage()
      print(h:join())
    ]])
    assert_clean(r)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("false\tusage\ntarget done\n", r.stdout)
  end)

  it("a finalizer that cancels tasks while they finish leaves every task finished once", function()
    -- A GC step at every allocation runs finalizers inside the scheduler itself, between a
    -- task's end and its outcome; each cancels the task that ran last.
    local r = run([[
      local hs, last = {}, nil
      local function mk()
        setmetatable({}, { __gc = function() if last then pcall(last.cancel, last) end mk() end })
      end
      collectgarbage("incremental", 1, 1000)
      for i = 1, 200 do mk() end
      for i = 1, 300 do hs[i] = taskrun.spawn(function() last = hs[i] return i end) end
      taskrun.yield()
      last = nil
      collectgarbage("incremental", 200, 100)
      local done, cancelled = 0, 0
      for i = 1, 300 do
        local s = hs[i]:status()
        if s == "done" then done = done + 1 elseif s == "cancelled" then cancelled = cancelled + 1 end
      end
      print(done + cancelled)
    ]])
    assert_clean(r)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("300\n", r.stdout)
  end)
end)

describe("coroutines that wait", function()
  it("resuming or closing a coroutine that waits in another task raises kind usage", function()
    local r = run([[
      local co
      local h = taskrun.spawn(function()
        co = coroutine.create(function() taskrun.sleep(0.02) return "slept" end)
        return coroutine.resume(co)
      end)
      taskrun.yield()
      local ok, err = pcall(coroutine.resume, co)
      print(ok, err.kind, err.message:match("waiting on taskrun") ~= nil)
      ok, err = pcall(coroutine.close, co)
      print(ok, err.kind)
      ok, err = pcall(coroutine.wrap(function() return coroutine.resume(co) end))
      print(ok, err.kind)
      print(h:join())
      print(coroutine.status(co), coroutine.resume(co))
    ]])
    assert_clean(r)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("false\tusage\ttrue\nfalse\tusage\nfalse\tusage\ntrue\tslept\n"
      .. "dead\tfalse\tcannot resume dead coroutine\n", r.stdout)
  end)

  it("a task's own thread cannot be resumed or closed by another task", function()
    local r = run([[
      local thread
      local h = taskrun.spawn(function() thread = coroutine.running() taskrun.sleep(0.01) return 7 end)
      taskrun.yield()
      local ok, err = pcall(coroutine.resume, thread)
      print(ok, err.kind, err.message:match("task 2's own") ~= nil)
      print(pcall(coroutine.close, thread))
      print(h:join())
    ]])
    assert_clean(r)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^false\tusage\ttrue\nfalse\tusage: coroutine.close: this coroutine is task 2's "
      .. "own[^\n]*\n7\n$", r.stdout)
  end)

  it("even the raw resume and close cannot run a wait's continuation early", function()
    -- The wrappers' own upvalues: what a runbook reaching around them would use.
    local r = run([[
      local function upvalue(f, name)
        for i = 1, math.huge do
          local n, v = debug.getupvalue(f, i)
          if not n then return nil end
          if n == name then return v end
        end
      end
      local raw_resume = upvalue(coroutine.resume, "raw_resume")
      local raw_close = upvalue(coroutine.close, "raw_close")
      local co, co2
      local a = taskrun.spawn(function()
        co = coroutine.create(function() taskrun.sleep(0.02) return "slept" end)
        return coroutine.resume(co)
      end)
      -- co2 sleeps long: a 20 ms sleep armed just after a's could fire in the same pass of the
      -- loop as a's (a loaded machine wakes it late), and b would end before the close below.
      local b = taskrun.spawn(function()
        co2 = coroutine.create(function() taskrun.sleep(60) end)
        return coroutine.resume(co2)
      end)
      taskrun.yield()
      local ok, err = raw_resume(co)
      print(ok, err.kind)
      print(a:join())
      print(raw_close(co2))
      co2 = nil
      collectgarbage()
      collectgarbage()
      print(b:cancel(), b:status())
    ]])
    assert_clean(r)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("false\tusage\nfalse\tcannot resume dead coroutine\ntrue\ntrue\tcancelled\n",
      r.stdout)
  end)

  it("coroutine.resume of a body that returns nothing gives just true, as in Lua", function()
    local r = run([[
      local co = coroutine.create(function() end)
      print(select("#", coroutine.resume(co)))
      local co2 = coroutine.create(function() taskrun.sleep(0) end)
      print(select("#", coroutine.resume(co2)))
      print(select("#", coroutine.wrap(function() taskrun.sleep(0) end)()))
    ]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("1\n1\n0\n", r.stdout)
  end)

  it("reports an error in a <close> handler of a coroutine whose task is cancelled", function()
    local r = run([[
      local h = taskrun.spawn(function()
        local inner = coroutine.wrap(function()
          local x <close> = setmetatable({}, { __close = function() error("close handler boom") end })
          taskrun.sleep(10)
        end)
        inner()
      end)
      taskrun.yield()
      print(h:cancel())
    ]])
    assert_clean(r)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("true\n", r.stdout)
    assert.matches("task 2: a <close> handler failed: [^\n]*close handler boom", r.stderr)
  end)
end)

describe("memory", function()
  -- Keeps about 48 MB of strings alive across waits, in several tasks.
  local HOG = [[
    local keep = {}
    local hs = {}
    for t = 1, 4 do
      hs[t] = taskrun.spawn(function()
        local c <close> = setmetatable({}, { __close = function() io.stderr:write("closed ", t, "\n") end })
        for i = 1, 12000 do
          keep[#keep + 1] = string.rep("x", 1000) .. i
          if i % 500 == 0 then taskrun.sleep(0) end
        end
      end)
    end
    for t = 1, 4 do hs[t]:join() end
    print("survived")
  ]]

  it("out of memory across waits ends the run with exit 1 and a message", function()
    for _, limit in ipairs({ "2M", "6M", "16M" }) do
      local r = run(HOG, { env = { TASKRUN_MEMORY_LIMIT = limit } })
      assert_clean(r)
      assert.are.equal(1, r.code, limit .. ": " .. r.stderr)
      assert.are.equal("", r.stdout)
      assert.matches("not enough memory", r.stderr:gsub("out of memory", "not enough memory"),
        1, true)
    end
  end)

  it("under the limit the same runbook runs to its end", function()
    local r = run(HOG, { env = { TASKRUN_MEMORY_LIMIT = "1G" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("survived\n", r.stdout)
  end)

  it("refuses a TASKRUN_MEMORY_LIMIT that is not a size", function()
    local r = run("print('ran')", { env = { TASKRUN_MEMORY_LIMIT = "lots" } })
    assert.are.equal(2, r.code)
    assert.are.equal("", r.stdout)
    assert.matches('bad TASKRUN_MEMORY_LIMIT "lots"', r.stderr, 1, true)
  end)
end)
