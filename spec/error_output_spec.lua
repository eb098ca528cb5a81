-- The error that ends a run, as a cron mail and a log pipeline read it: an expected failure is
-- its message and the runbook's file:line, on two lines (the traceback at --log-level debug);
-- any other error keeps its traceback; a JSON log ends with one run_end event carrying the
-- exit code and the error's fields; every event writes a field one way.
local H = require("harness")
local json = require("cjson")

local PRELUDE = 'local sim = dofile("spec/support/simctl.lua")\n'

-- Writes `script` to a file of its own (the spec needs its path for file:line) and runs it.
-- opts.sim: under --sim, with the simulator's control module as `sim`.
local function run(script, opts)
  opts = opts or {}
  local text = (opts.sim and PRELUDE or "") .. script
  local path = H.write_tmp(text, ".lua")
  local flags = { "--no-journal" }
  if opts.sim then flags[#flags + 1] = "--sim" end
  for _, f in ipairs(opts.flags or {}) do flags[#flags + 1] = f end
  local r = H.run({ flags = flags, script_path = path, env = opts.env })
  r.path = path
  -- "path:N" of the line holding `marker` (a comment in the script).
  function r.at(marker)
    local n = 0
    for line in (text .. "\n"):gmatch("(.-)\n") do
      n = n + 1
      if line:find(marker, 1, true) then return path .. ":" .. n end
    end
    error("no line holds " .. marker)
  end
  return r
end

-- Every line of a JSON log decoded, each with its text in `line` (lua-cjson decodes 7 as 7.0:
-- the text says whether it was written as an integer). At --log-level debug under --sim the
-- simulator's own log lines join stderr: they are not taskrun's, and are skipped.
local function json_lines(stderr)
  local out = {}
  for line in stderr:gmatch("[^\n]+") do
    if not line:find("^taskrun%-sim: ") then
      local ok, ev = pcall(json.decode, line)
      assert(ok, "not a JSON line: " .. line)
      ev.line = line
      out[#out + 1] = ev
    end
  end
  return out
end

local function count_events(lines, name)
  local n = 0
  for _, ev in ipairs(lines) do
    if ev.event == name then n = n + 1 end
  end
  return n
end

-- A BlueXP restore job that fails on its second read.
local FAILING_JOB = [[
local j = sim.task({ provider = "bluexp", mode = "poll",
  steps = { "PENDING", { state = "FAILED", error = "volume offline" } } })
local job = taskrun.bluexp.job(j.id)
job:wait({ interval = 0.05 })   -- the wait
]]

describe("an uncaught error of an expected kind, in text", function()
  it("is its message and the runbook's file:line on two lines, for every expected kind",
    function()
    for _, kind in ipairs({ "auth", "failed", "cancelled", "timeout", "not_found", "http",
                            "transport", "decode", "usage", "in_doubt" }) do
      local r = run('local x = 1\nerror(taskrun.error("' .. kind .. '", "it went wrong")) -- here\n')
      assert.are_not.equal(0, r.code)
      assert.are.equal("taskrun: " .. kind .. ": it went wrong\n\tat " .. r.at("-- here") .. "\n",
        r.stderr)
    end
  end)

  it("names the runbook's line, not taskrun's stdlib, when the stdlib raised it", function()
    local r = run('local t = {}\ntaskrun.wait(t, { timout = "1h" })   -- the typo\n')
    assert.are.equal(2, r.code, r.stderr)
    assert.matches('^taskrun: usage: taskrun.wait: unknown option "timout"[^\n]*\n\tat '
      .. r.at("-- the typo"):gsub("%p", "%%%0") .. "\n$", r.stderr)
  end)

  it("of a wait that saw the task fail: the vendor's words, where the runbook waited, exit 3",
    function()
    local r = run(FAILING_JOB, { sim = true })
    assert.are.equal(3, r.code, r.stderr)
    local report = r.stderr:match("\n(taskrun: .*)$")
    assert.matches("^taskrun: failed: bluexp task [%w-]+ ended FAILED %(failed%): volume offline; "
      .. "%d polls? in [%d.]+s; responses: %dx 200\n\tat "
      .. r.at("-- the wait"):gsub("%p", "%%%0") .. "\n$", report)
    assert.is_nil(r.stderr:find("traceback", 1, true), r.stderr)
    assert.is_nil(r.stderr:find("stdlib/", 1, true), r.stderr)
  end)

  it("raised in a task and re-raised by join: the task's own line", function()
    local r = run([[
local h = taskrun.spawn(function()
  taskrun.sleep(0)
  error(taskrun.error("failed", "the task failed"))   -- in the task
end)
h:join()   -- the join
]])
    assert.are.equal(3, r.code, r.stderr)
    assert.are.equal("taskrun: failed: the task failed\n\tat " .. r.at("-- in the task") .. "\n",
      r.stderr)
  end)

  it("of a task nobody joins: reported at once the same way", function()
    local r = run([[
taskrun.spawn(function()
  error(taskrun.error("auth", "refused"))   -- unjoined
end)
taskrun.sleep(0.01)
]])
    assert.are.equal(5, r.code, r.stderr)
    assert.are.equal("taskrun: task 2 failed: auth: refused\n\tat " .. r.at("-- unjoined")
      .. "\n", r.stderr)
  end)

  it("is its message alone when a tail call left no frame of the runbook's", function()
    local r = run('return taskrun.wait({}, { timout = "1h" })\n')
    assert.are.equal(2, r.code, r.stderr)
    assert.matches('^taskrun: usage: taskrun.wait: unknown option "timout"[^\n]*\n$', r.stderr)
  end)

  it("shows the full traceback too at --log-level debug", function()
    local r = run(FAILING_JOB, { sim = true, flags = { "--log-level", "debug" } })
    assert.are.equal(3, r.code, r.stderr)
    assert.matches("\ntaskrun: failed: bluexp task [^\n]+\n\tat "
      .. r.at("-- the wait"):gsub("%p", "%%%0") .. "\nstack traceback:\n\t", r.stderr)
    assert.matches("stdlib/taskrun/wait.lua:%d+:", r.stderr)
  end)
end)

describe("any other uncaught error, in text", function()
  it("keeps its traceback: a plain error, a bug, a table of an unknown kind", function()
    for _, case in ipairs({
      { 'error("boom")   -- raise', "boom" },
      { 'local t = nil\nlocal v = t.x   -- raise', "attempt to index a nil value" },
      { 'error({ kind = "mine", message = "custom" })   -- raise', "mine: custom" },
    }) do
      local r = run(case[1] .. "\n")
      assert.are.equal(1, r.code, r.stderr)
      assert.matches(case[2], r.stderr, 1, true)
      assert.matches("\nstack traceback:\n\t", r.stderr, 1, true)
      assert.matches(r.at("-- raise") .. ": in main chunk", r.stderr, 1, true)
      assert.is_nil(r.stderr:find("\tat ", 1, true), r.stderr)
    end
  end)
end)

describe("the end of a JSON log", function()
  it("is one run_end event with the exit code, kind, message, provider, task_id, status and "
    .. "where of an expected error, and no traceback", function()
    local r = run(FAILING_JOB, { sim = true, flags = { "--log-format", "json" } })
    assert.are.equal(3, r.code, r.stderr)
    local lines = json_lines(r.stderr)
    local last = lines[#lines]
    assert.are.same({ "run_end", "error", 3, "failed", "bluexp", 200, r.at("-- the wait") },
      { last.event, last.level, last.exit_code, last.kind, last.provider, last.status,
        last.where })
    assert.are.equal("string", type(last.task_id))
    assert.matches("^bluexp task " .. last.task_id:gsub("%p", "%%%0") .. " ended FAILED",
      last.message)
    assert.are.equal("failed: " .. last.message, last.msg)
    assert.is_nil(last.traceback)
    assert.are.equal("number", type(last.elapsed))
    -- one event says it: no error line of its own before it
    for i = 1, #lines - 1 do assert.are_not.equal("error", lines[i].level, r.stderr) end
    assert.are.equal(1, count_events(lines, "run_end"))
  end)

  it("gives a Redpanda task's id as the integer the vendor uses", function()
    local r = run([[
sim.task({ provider = "redpanda", id = 7, mode = "poll",
  steps = { "STATE_PLANNED", "STATE_CANCELLED" } })
taskrun.redpanda.mount_task(7):wait({ interval = 0.05 })   -- cancelled
]], { sim = true, flags = { "--log-format", "json" } })
    assert.are.equal(3, r.code, r.stderr)
    local last = json_lines(r.stderr)
    last = last[#last]
    assert.are.same({ "cancelled", "redpanda", 7, r.at("-- cancelled") },
      { last.kind, last.provider, last.task_id, last.where })
    assert.matches('"task_id":7[,}]', last.line)
  end)

  it("has the traceback of an unexpected error, and where it was raised", function()
    local r = run('local t = nil\nlocal v = t.x   -- a bug\n', { flags = { "--log-format", "json" } })
    assert.are.equal(1, r.code, r.stderr)
    local lines = json_lines(r.stderr)
    assert.are.equal(1, #lines, r.stderr)
    local e = lines[1]
    assert.are.same({ "run_end", 1, r.at("-- a bug") }, { e.event, e.exit_code, e.where })
    assert.is_nil(e.kind)
    assert.matches("attempt to index a nil value", e.message, 1, true)
    assert.matches("stack traceback:", e.traceback, 1, true)
  end)

  it("has the traceback of an expected error at --log-level debug", function()
    local r = run('error(taskrun.error("auth", "no"))   -- here\n',
      { flags = { "--log-format", "json", "--log-level", "debug" } })
    local lines = json_lines(r.stderr)
    assert.matches("stack traceback:", lines[#lines].traceback, 1, true)
  end)

  it("says exit 0 at level info when the run went well; --quiet leaves it out", function()
    local r = run('taskrun.log.info("working")\n', { flags = { "--log-format", "json" } })
    assert.are.equal(0, r.code, r.stderr)
    local lines = json_lines(r.stderr)
    assert.are.equal(2, #lines)
    assert.are.same({ "run_end", "info", 0 }, { lines[2].event, lines[2].level,
      lines[2].exit_code })
    assert.is_nil(lines[2].kind)
    r = run('taskrun.log.info("working")\n', { flags = { "--log-format", "json", "--quiet" } })
    assert.are.equal("", r.stderr)
  end)

  it("ends with the code of os.exit, of --timeout and of a task nobody joined", function()
    local r = run('os.exit(3)\n', { flags = { "--log-format", "json" } })
    assert.are.equal(3, r.code)
    local last = json_lines(r.stderr)
    assert.are.same({ "run_end", 3 }, { last[#last].event, last[#last].exit_code })
    r = run('taskrun.sleep(30)\n', { flags = { "--log-format", "json", "--timeout", "0.2s" } })
    assert.are.equal(4, r.code)
    last = json_lines(r.stderr)
    assert.are.same({ "run_end", 4, "timeout" },
      { last[#last].event, last[#last].exit_code, last[#last].kind })
    assert.matches("--timeout 0.2s ran out", last[#last].message, 1, true)
    r = run('taskrun.spawn(function() error(taskrun.error("auth", "no")) end)   -- task\n'
      .. 'taskrun.sleep(0.01)\n', { flags = { "--log-format", "json" } })
    assert.are.equal(5, r.code)
    local lines = json_lines(r.stderr)
    last = lines[#lines]
    assert.are.same({ "run_end", 5, "auth", r.at("-- task") },
      { last.event, last.exit_code, last.kind, last.where })
    -- the failure was reported when it happened, with its fields too
    assert.are.same({ "error", "auth", r.at("-- task") }, { lines[1].level, lines[1].kind,
      lines[1].where })
  end)
end)

describe("the events of a JSON log", function()
  -- One form per field across every event: a pipeline maps each field once.
  local NUMBERS = { elapsed = true, delay = true, left = true, retry_after = true,
                    deadline = true, polls = true, exit_code = true, attempt = true,
                    expires_in = true, progress = true, status = true }
  local STRINGS = { event = true, provider = true, state = true, task_status = true,
                    from = true, to = true, reason = true, kind = true, message = true,
                    where = true, run_id = true, msg = true, level = true, time = true }

  it("write every duration in seconds as a number, task_id as the vendor's type, status as "
    .. "an HTTP status", function()
    local r = run([[
sim.task({ provider = "redpanda", id = 9, mode = "poll",
  steps = { "STATE_PLANNED", "STATE_EXECUTING", "STATE_EXECUTING", "STATE_CUT_OVER" } })
local j = sim.task({ provider = "bluexp", mode = "poll",
  steps = { "PENDING", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" } })
sim.fault({ provider = "bluexp", kind = "server_error", count = 1, skip = 1 })
taskrun.wait_all({ taskrun.redpanda.mount_task(9), taskrun.bluexp.job(j.id) },
  { interval = 0.05, max_interval = 0.05, heartbeat = 0.01,
    ["until"] = function(t) return t.done or t.state == "STATE_CUT_OVER" end })
]], { sim = true, flags = { "--log-format", "json", "--log-level", "debug" } })
    assert.are.equal(0, r.code, r.stderr)
    local seen = {}
    for _, ev in ipairs(json_lines(r.stderr)) do
      if ev.event then seen[ev.event] = true end
      local line = ev.line
      ev.line = nil
      for k, v in pairs(ev) do
        if NUMBERS[k] then
          assert.are.equal("number", type(v), k .. " in " .. json.encode(ev))
        elseif STRINGS[k] then
          assert.are.equal("string", type(v), k .. " in " .. json.encode(ev))
        end
      end
      if ev.task_id ~= nil then
        assert.matches(ev.provider == "redpanda" and '"task_id":%d+[,}]' or '"task_id":"', line)
      end
      assert.is_nil(ev.id, "an id field besides task_id: " .. json.encode(ev))
    end
    for _, name in ipairs({ "transition", "poll", "retry", "heartbeat", "end", "run_end" }) do
      assert.is_true(seen[name], "no " .. name .. " event in\n" .. r.stderr)
    end
  end)
end)
