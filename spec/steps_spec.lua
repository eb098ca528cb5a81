-- Durable steps: taskrun.step's function finishes once per run across kills and resumes, its
-- results come back from the journal, failures are raised again (or retried), and a resumed
-- wait goes on with the time it had left. Each step's function appends a line to a counter
-- file the spec reads: the side effect a resume must not repeat. The same spec runs against
-- PostgreSQL (spec/steps_pg_spec.lua), but for SQLite's own step log.
local H = require("harness")
local backend = require("backend")

local tmpdir = H.tmpdir

local function lines(path)
  local n, f = 0, io.open(path, "rb")
  if not f then return 0 end
  for _ in f:lines() do n = n + 1 end
  f:close()
  return n
end

-- arg[1]: the counter file; arg[2]: the scenario; arg[3] == "hold": sleep on the first attempt
-- after printing "ready" (to be killed there; a resume goes on), unless NO_HOLD is set.
local RUNBOOK = [==[
local counter, mode = arg[1], arg[2]
local first = taskrun.run.attempt == 1
local function bump()
  local h = assert(io.open(counter, "a"))
  h:write("ran\n")
  h:close()
end
local function say(...) print(...) io.stdout:flush() end
if mode == "once" then
  say(taskrun.step("fetch", function(x) bump() return x, nil, { k = "v" } end, 41))
elseif mode == "hang" then
  say(taskrun.step("fetch", function()
    bump()
    if first then say("in step") taskrun.sleep(60) end
    return "done"
  end))
elseif mode == "fail" then
  local ok, err = pcall(taskrun.step, "fetch", function()
    bump()
    if first then error(taskrun.error("failed", "disk full", { device = "sda", f = print })) end
    return "fixed"
  end)
  if ok then say("ok", err) else say(err.kind, err.message, err.device, err.f) end
elseif mode == "repeat" then
  for i = 1, 3 do say(taskrun.step("item", function() bump() return i * 10 end)) end
elseif mode == "object" then
  -- An object (a Task has a metatable too): the step gives the plain table of its fields.
  local obj = setmetatable({ id = 7, state = "done" }, { __index = { wait = function() end } })
  local got = taskrun.step("object", function() bump() return obj end)
  say(got ~= obj, getmetatable(got) == nil, got.id, got.state, got.wait)
elseif mode == "reserved" then
  for _, name in ipairs({ "wait:x", "call:y" }) do
    local ok, err = pcall(taskrun.step, name, function() bump() end)
    say(ok, err.kind, err.message)
  end
elseif mode == "many" then
  -- No output between the steps (a file write commits the journal too): they are journaled in
  -- batches, not a row each.
  local ran = 0
  for i = 1, 200 do taskrun.step("item", function() ran = ran + 1 return i end) end
  say("ran", ran)
elseif mode == "nonjson" then
  local ok, err = pcall(taskrun.step, "handle", function() bump() return io.stdout end)
  say(ok, err.kind, err.message)
  ok, err = pcall(taskrun.step, "", function() end)
  say(ok, err.kind, err.message)
end
say("ready")
if arg[3] == "hold" and first and not os.getenv("NO_HOLD") then taskrun.sleep(60) end
]==]

local function setup()
  local s = { dir = tmpdir() }
  s.script = H.write_tmp(RUNBOOK, ".lua")
  s.counter = s.dir .. "/counter"
  s.env = backend.env(s.dir)
  -- The same arguments as kill_after's: the same run key, so this resumes its run.
  function s.run(mode, flags)
    return H.run({ script_path = s.script, args = { s.counter, mode, "hold" }, flags = flags,
                   env = s.env })
  end
  -- Starts the runbook, reads its lines up to `upto`, kills it with SIGKILL.
  function s.kill_after(mode, upto)
    local p = H.spawn({ script_path = s.script, args = { s.counter, mode, "hold" }, env = s.env })
    local seen = {}
    repeat
      local l = p:line()
      assert(l, "the runbook ended before printing " .. upto)
      seen[#seen + 1] = l
    until l == upto
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)
    return table.concat(seen, "\n") .. "\n"
  end
  return s
end

describe("taskrun.step", function()
  it("runs its function once across a kill and a resume, which gets the journaled results",
     function()
    local s = setup()
    assert.are.equal("41\tnil\ttable\nready\n", s.kill_after("once", "ready")
      :gsub("table: 0x%x+", "table"))
    local r = s.run("once")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(1, lines(s.counter))
    assert.are.equal("41\tnil\ttable\nready\n", (r.stdout:gsub("table: 0x%x+", "table")))
    assert.is_nil(r.stderr:find("changed since", 1, true))
  end)

  it("killed while its function ran runs it again on resume (at least once)", function()
    local s = setup()
    s.kill_after("hang", "in step")
    local r = s.run("hang")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("done\nready\n", r.stdout)
    assert.are.equal(2, lines(s.counter))
  end)

  it("that failed raises the same kind and message on resume, without running", function()
    local s = setup()
    assert.are.equal("failed\tdisk full\tsda\tfunction: builtin\nready\n",
      (s.kill_after("fail", "ready"):gsub("function: [%w:]+", "function: builtin")))
    local r = s.run("fail")
    assert.are.equal(0, r.code, r.stderr)
    -- The fields JSON can hold come back; a function cannot.
    assert.are.equal("failed\tdisk full\tsda\tnil\nready\n", r.stdout)
    assert.are.equal(1, lines(s.counter))
  end)

  it("that failed runs again on a resume started with --retry-failed", function()
    local s = setup()
    s.kill_after("fail", "ready")
    local r = s.run("fail", { "--retry-failed" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("ok\tfixed\nready\n", r.stdout)
    assert.are.equal(2, lines(s.counter))
  end)

  it("called again under the same name is a step of its own: (name, n)", function()
    local s = setup()
    assert.are.equal("10\n20\n30\nready\n", s.kill_after("repeat", "ready"))
    local r = s.run("repeat")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("10\n20\n30\nready\n", r.stdout)
    assert.are.equal(3, lines(s.counter))
    local show = H.run({ flags = { "runs", "show", "1" }, env = s.env }).stdout
    for n = 1, 3 do assert.matches("item #" .. n .. "  finished", show, 1, true) end
  end)

  -- SQLite's step log; PostgreSQL writes a batch as one statement into steps.
  local it_sqlite = backend.name == "sqlite" and it or function() end

  it_sqlite("are written in batches to the step log, replayed into one row each before a read",
     function()
    local s = setup()
    local function sql(query)
      local h = assert(io.popen("sqlite3 " .. s.dir .. "/state/journal.db '" .. query .. "'"))
      local out = h:read("a")
      assert(h:close(), "sqlite3 failed on: " .. query)
      return out
    end
    assert.are.equal("ran\t200\nready\n", s.kill_after("many", "ready"))
    -- Written before "ready" was printed, as far fewer rows than steps; none replayed yet.
    local logged = tonumber(sql("SELECT count(*) FROM step_log"))
    assert.is_true(logged >= 1 and logged < 20, "step_log rows: " .. logged)
    assert.are.equal("0\n", sql("SELECT count(*) FROM steps"))
    local show = H.run({ flags = { "runs", "show", "1" }, env = s.env })
    assert.are.equal(0, show.code, show.stderr)
    local at = 0
    for n = 1, 200 do
      at = assert(show.stdout:find("item #" .. n .. "  finished", at + 1, true), "item " .. n)
    end
    assert.are.equal("0\n", sql("SELECT count(*) FROM step_log"))
    assert.are.equal("200\n", sql("SELECT count(*) FROM steps WHERE state = \"finished\""))
    -- The resume replays every step's result: none runs again.
    local r = s.run("many")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("ran\t0\nready\n", r.stdout)
  end)

  it_sqlite("says which run's step log is damaged, and what to do, rather than guess", function()
    local s = setup()
    s.kill_after("many", "ready")
    local h = assert(io.popen("sqlite3 " .. s.dir .. "/state/journal.db "
      .. "'UPDATE step_log SET records = substr(records, 1, 30)'"))
    h:read("a")
    assert(h:close())
    local r = H.run({ flags = { "runs", "show", "1" }, env = s.env })
    assert.are_not.equal(0, r.code)
    assert.matches("the step log of run 1 in .*journal%.db is damaged %(row %d+, byte %d+%): "
      .. "start the run over with %-%-fresh", r.stderr)
    r = s.run("many")
    assert.are_not.equal(0, r.code)
    assert.matches("the step log of run 1 in .* is damaged", r.stderr)
    assert.are.equal("", r.stdout)
    r = H.run({ script_path = s.script, args = { s.counter, "many", "hold" }, flags = { "--fresh" },
                env = { TASKRUN_STATE_DIR = s.env.TASKRUN_STATE_DIR, NO_HOLD = "1" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("ran\t200\nready\n", r.stdout)
  end)

  it("refuses results JSON cannot hold, and a name that is not a non-empty string", function()
    local s = setup()
    -- Not s.run: its "hold" would sleep out 60 s after the checks, on this first attempt.
    local r = H.run({ script_path = s.script, args = { s.counter, "nonjson" }, env = s.env })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches('false\tusage\ttaskrun.step: step "handle" returned a value that is not '
      .. "JSON-encodable", r.stdout, 1, true)
    assert.matches("false\tusage\ttaskrun.step: the step's name must be a non-empty string",
      r.stdout, 1, true)
  end)

  it("returning an object (a Task) gives the plain table of its fields, first run and resume",
     function()
    local s = setup()
    assert.are.equal("true\ttrue\t7\tdone\tnil\nready\n", s.kill_after("object", "ready"))
    local r = s.run("object")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("true\ttrue\t7\tdone\tnil\nready\n", r.stdout)
    assert.are.equal(1, lines(s.counter))
  end)

  it("refuses the names of taskrun's own steps: wait:... and call:...", function()
    local s = setup()
    local r = H.run({ script_path = s.script, args = { s.counter, "reserved" }, env = s.env })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches('false\tusage\ttaskrun.step: step "wait:x": names beginning with "wait:" '
      .. 'and "call:" are taskrun\'s own', r.stdout, 1, true)
    assert.matches('false\tusage\ttaskrun.step: step "call:y"', r.stdout, 1, true)
    assert.are.equal(0, lines(s.counter))
  end)

  it("runs its function every time under --no-journal", function()
    local s = setup()
    for _ = 1, 2 do
      local r = H.run({ script_path = s.script, args = { s.counter, "once" },
                        flags = { "--no-journal" }, env = s.env })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("41\tnil\ttable\nready\n", (r.stdout:gsub("table: 0x%x+", "table")))
    end
    assert.are.equal(2, lines(s.counter))
  end)
end)

describe("a resumed run", function()
  it("whose script changed since the run began warns, and goes on", function()
    local s = setup()
    s.kill_after("once", "ready")
    local f = assert(io.open(s.script, "a"))
    f:write("-- edited\n")
    f:close()
    local r = s.run("once")
    assert.are.equal(0, r.code, r.stderr)
    assert.matches(s.script .. " changed since run 1 began", r.stderr, 1, true)
    assert.are.equal(1, lines(s.counter))
  end)
end)

describe("a wait", function()
  it("resumed goes on with the time it had left, not a fresh timeout", function()
    local sim = H.start_sim()
    local dir = tmpdir()
    local env = H.sim_env(sim, backend.env(dir))
    -- The job is created in a step, so the resumed run waits on the same one. The target says
    -- "waiting" at its second poll: the deadline is journaled and half a second of it is gone.
    local script = H.write_tmp([==[
local sim = dofile("spec/support/simctl.lua")
local id = taskrun.step("job", function()
  return sim.task({ provider = "bluexp", mode = "poll", steps = { "RUNNING" } }).id
end)
local polls = 0
local ok, err = pcall(taskrun.wait, function()
  polls = polls + 1
  if polls == 2 and taskrun.run.attempt == 1 then print("waiting") io.stdout:flush() end
  return taskrun.bluexp.job(id)
end, { name = "restore", timeout = "3s", interval = 0.5, max_interval = 0.5, jitter = false })
print(ok, err.kind, err.message)
]==], ".lua")
    local p = H.spawn({ script_path = script, env = env })
    assert.are.equal("waiting", p:line())
    p:kill("KILL")
    p:wait()
    local r = H.run({ script_path = script, env = env })
    sim.stop()
    assert.are.equal(0, r.code, r.stderr)
    local waited = r.stdout:match("^false\ttimeout\ttimed out after ([%d.]+)s waiting on ")
    assert.is_not_nil(waited, r.stdout)
    assert.is_true(tonumber(waited) < 3, r.stdout)
    assert.matches("restore: resumed with [%d.]+s left of its timeout", r.stderr)
  end)
end)
