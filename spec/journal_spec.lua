-- Durable runs, the foundation: where the journal lives, which run a start continues, the locks
-- a run holds, taskrun.run, and the `taskrun runs` subcommands. The same spec runs against
-- PostgreSQL (spec/journal_pg_spec.lua): backend.lua gives each test a journal of its own.
local H = require("harness")
local json = require("cjson")
local backend = require("backend")

local tmpdir = H.tmpdir


-- Prints the run's identity on one line, then "ready"; given "hold" it then sleeps on its first
-- attempt (to be killed or to hold its locks), given "hold2" on its first two; later attempts
-- end at once, and so does any attempt with NO_HOLD set (a --fresh start is attempt 1 again:
-- the run's key, its arguments, must not change, and it must not sleep out its 60 s).
local RUNBOOK = [==[
print(tostring(taskrun.run.id) .. " " .. tostring(taskrun.run.resumed) .. " "
      .. taskrun.run.attempt)
print("ready")
io.stdout:flush()
local holds = os.getenv("NO_HOLD") and 0 or (({ hold = 1, hold2 = 2 })[arg[1]] or 0)
if taskrun.run.attempt <= holds then taskrun.sleep(60) end
if arg[1] == "fail" then error(taskrun.error("timeout", "the wait gave up")) end
]==]

-- A state directory and a runbook file of its own (the run's key is the file's real path).
local function setup()
  local s = { dir = tmpdir() }
  s.script = H.write_tmp(RUNBOOK, ".lua")
  s.env = backend.env(s.dir)
  function s.run(args, flags, env)
    local e = {}
    for k, v in pairs(s.env) do e[k] = v end
    for k, v in pairs(env or {}) do e[k] = v end
    return H.run({ script_path = s.script, args = args, flags = flags, env = e })
  end
  function s.spawn(args, flags)
    local p = H.spawn({ script_path = s.script, args = args, flags = flags, env = s.env })
    local first = p:line()
    assert.are.equal("ready", p:line())
    p.first = first
    return p
  end
  function s.runs(args)
    local r = H.run({ flags = args, env = s.env })
    assert.are.equal(0, r.code, r.stderr)
    return r
  end
  function s.runs_json()
    return json.decode(s.runs({ "runs", "--json" }).stdout)
  end
  return s
end

local function identity(r)
  local id, resumed, attempt = r.stdout:match("^(%S+) (%S+) (%d+)\n")
  return id, resumed, tonumber(attempt)
end

local function killed(s)
  local p = s.spawn({ "hold" })
  p:kill("KILL")
  assert.are.equal(137, p:wait().code)
  return p
end

-- Reads a spawned taskrun's stderr until it holds `text` (its own message: an event, no timer).
local function until_stderr(p, text)
  for _ = 1, 2000 do
    local f = io.open(p.errpath, "rb")
    local s = f and f:read("a") or ""
    if f then f:close() end
    if s:find(text, 1, true) then return s end
    os.execute("sleep 0.01")
  end
  error("taskrun never wrote " .. text)
end

-- The state directory holds SQLite's journal; a PostgreSQL journal has none.
local describe_sqlite = backend.name == "sqlite" and describe or function() end

describe_sqlite("the state directory", function()
  it("is TASKRUN_STATE_DIR, else $XDG_STATE_HOME/taskrun, else ~/.local/state/taskrun", function()
    local xdg, home, env_dir, flag = tmpdir(), tmpdir(), tmpdir() .. "/env", tmpdir() .. "/flag"
    local script = H.write_tmp("print('ran')", ".lua")
    local r = H.run({ script_path = script,
                      env = { TASKRUN_STATE_DIR = false, XDG_STATE_HOME = xdg, HOME = home } })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_true(H.exists(xdg .. "/taskrun/journal.db"))
    assert.are.equal("700", H.output_line("stat -c %a " .. H.quote(xdg .. "/taskrun")))
    r = H.run({ script_path = script,
                env = { TASKRUN_STATE_DIR = false, XDG_STATE_HOME = false, HOME = home } })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_true(H.exists(home .. "/.local/state/taskrun/journal.db"))
    assert.are.equal("700", H.output_line("stat -c %a " .. H.quote(home .. "/.local/state/taskrun")))
    r = H.run({ script_path = script,
                env = { TASKRUN_STATE_DIR = env_dir, XDG_STATE_HOME = xdg } })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_true(H.exists(env_dir .. "/journal.db"))
    r = H.run({ script_path = script, flags = { "--state-dir", flag },
                env = { TASKRUN_STATE_DIR = env_dir } })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_true(H.exists(flag .. "/journal.db"))
  end)

  it("that cannot be written is a usage error naming it, and nothing runs", function()
    local file = H.write_tmp("not a directory")
    local r = H.run({ script = "print('ran')", flags = { "--state-dir", file .. "/state" } })
    assert.are.equal(2, r.code)
    assert.are.equal("", r.stdout)
    assert.matches(file .. "/state", r.stderr, 1, true)
    assert.matches("--state-dir", r.stderr, 1, true)
    assert.matches("--no-journal", r.stderr, 1, true)
  end)

  it("stays untouched under --no-journal, and taskrun.run says so", function()
    local s = setup()
    local r = s.run({}, { "--no-journal" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("nil false 1\nready\n", r.stdout)
    assert.is_false(H.exists(s.dir .. "/state"))
  end)
end)

describe("a run", function()
  it("killed with SIGKILL is resumed by the next start: attempt 2, resumed", function()
    local s = setup()
    local p = killed(s)
    local id, resumed, attempt = p.first:match("^(%S+) (%S+) (%d+)$")
    assert.are.same({ "false", "1" }, { resumed, attempt })
    assert.are.equal("interrupted", s.runs_json()[1].status)
    local r = s.run({ "hold" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ id, "true", 2 }, { identity(r) })
    local runs = s.runs_json()
    assert.are.equal(1, #runs)
    assert.are.same({ "finished", 2, 0 }, { runs[1].status, runs[1].attempt, runs[1].exit_code })
  end)

  it("whose last run finished starts a new run", function()
    local s = setup()
    local first = s.run({})
    local second = s.run({})
    local id1 = identity(first)
    local id2, resumed, attempt = identity(second)
    assert.are_not.equal(id1, id2)
    assert.are.same({ "false", 1 }, { resumed, attempt })
  end)

  it("that failed (a wait's own timeout error, exit 4) is finished, not resumed", function()
    local s = setup()
    assert.are.equal(4, s.run({ "fail" }).code)
    local r = s.run({ "fail" })
    assert.are.same({ "false", 1 }, { select(2, identity(r)) })
    assert.are.same({ "failed", 4 }, { s.runs_json()[1].status, s.runs_json()[1].exit_code })
  end)

  it("stopped by --timeout or SIGTERM is interrupted and resumed", function()
    local s = setup()
    assert.are.equal(4, s.run({ "hold2" }, { "--timeout", "1s" }).code)
    assert.are.equal("interrupted", s.runs_json()[1].status)
    local p = s.spawn({ "hold2" })
    assert.are.equal("true 2", p.first:match("(%S+ %d+)$"))
    p:kill("TERM")
    assert.are.equal(143, p:wait().code)
    assert.are.equal("interrupted", s.runs_json()[1].status)
    local r = s.run({ "hold2" })
    assert.are.same({ "true", 3 }, { select(2, identity(r)) })
  end)

  it("with --fresh abandons the unfinished run and starts over", function()
    local s = setup()
    killed(s)
    local r = s.run({ "hold" }, { "--fresh" }, { NO_HOLD = "1" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ "false", 1 }, { select(2, identity(r)) })
    local runs = s.runs_json()
    assert.are.same({ "abandoned", "finished" }, { runs[1].status, runs[2].status })
  end)

  it("with --run-id is known by that id; -e runs are journaled only with one", function()
    local s = setup()
    local r = H.run({ flags = { "--run-id", "nightly", "-e", "print(taskrun.run.id)" },
                      env = s.env })
    assert.are.equal("nightly\n", r.stdout)
    r = H.run({ flags = { "-e", "print(taskrun.run.id, taskrun.run.attempt)" }, env = s.env })
    assert.are.equal("nil\t1\n", r.stdout)
    local runs = s.runs_json()
    assert.are.equal(1, #runs)
    assert.are.equal("finished", json.decode(s.runs({ "runs", "show", "nightly", "--json" })
                                             .stdout).status)
  end)
end)

describe("locks", function()
  it("a key in progress makes a second start exit 75 with the holder's pid, running nothing",
    function()
    local s = setup()
    local holder = s.spawn({ "hold" })
    local r = s.run({ "hold" })
    assert.are.equal(75, r.code)
    assert.are.equal("", r.stdout)
    assert.matches("pid " .. holder.pid .. " since %d%d%d%d%-%d%d%-%d%dT", r.stderr)
    assert.are.equal("running", s.runs_json()[1].status)
    holder:kill("TERM")
    assert.are.equal(143, holder:wait().code)
  end)

  it("--lock NAME is shared by different runs: exit 75 with the holder's pid", function()
    local s = setup()
    local holder = s.spawn({ "hold" }, { "--lock", "restore" })
    local r = H.run({ script = "print('ran')", flags = { "--lock", "restore" }, env = s.env })
    assert.are.equal(75, r.code)
    assert.are.equal("", r.stdout)
    assert.matches('the lock "restore" is held by pid ' .. holder.pid, r.stderr, 1, true)
    holder:kill("TERM")
    holder:wait()
  end)

  it("--lock-wait waits for the lock, then runs", function()
    local s = setup()
    local holder = s.spawn({ "hold" }, { "--lock", "restore" })
    local waiter = H.spawn({ script = "print('ran')", env = s.env,
                             flags = { "--lock", "restore", "--lock-wait", "60s" } })
    until_stderr(waiter, "waiting up to 60s for the lock \"restore\" held by pid " .. holder.pid)
    holder:kill("TERM")
    assert.are.equal(143, holder:wait().code)
    local r = waiter:wait()
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("ran\n", r.stdout)
  end)
end)

describe("taskrun runs", function()
  it("lists every run in text and JSON", function()
    local s = setup()
    s.run({ "a b" })
    s.run({ "fail" })
    local t = s.runs({ "runs" }).stdout
    local lines = {}
    for l in t:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(2, #lines)
    assert.matches("^1  .*%.lua %[\"a b\"%]  finished  attempt 1  %d%d%d%d%-.*Z  .*Z  exit 0  "
                   .. "host %S+$", lines[1])
    assert.matches("^2  .*%.lua %[\"fail\"%]  failed  attempt 1  .*  exit 4  host %S+$", lines[2])
    local runs = s.runs_json()
    assert.are.equal(2, #runs)
    local rfc3339 = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"
    for i, want in ipairs({ { "a b", "finished", 0 }, { "fail", "failed", 4 } }) do
      local run = runs[i]
      assert.are.equal(tostring(i), run.id)
      assert.matches("%.lua$", run.script)
      assert.are.same({ want[1] }, run.args)
      assert.are.same({ want[2], 1, want[3] }, { run.status, run.attempt, run.exit_code })
      assert.matches(rfc3339, run.started)
      assert.matches(rfc3339, run.ended)
    end
  end)

  it("in an empty state directory lists nothing", function()
    local s = setup()
    assert.are.equal("", s.runs({ "runs" }).stdout)
    assert.are.same({}, s.runs_json())
  end)

  it("show RUN prints the run and its steps (none yet), in text and JSON", function()
    local s = setup()
    killed(s)
    local shown = json.decode(s.runs({ "runs", "show", "1", "--json" }).stdout)
    assert.are.same({ "1", "interrupted", 1 }, { shown.id, shown.status, shown.attempt })
    assert.are.equal(json.null, shown.ended)
    assert.are.equal(json.null, shown.exit_code)
    assert.are.same({}, shown.steps)
    assert.matches("^1  .*%.lua %[\"hold\"%]  interrupted  attempt 1  .*  %-  exit %-  host %S+\n"
                   .. "  attempt 1  host %S+  pid %d+  %d%d%d%d%-%S+Z  %-  %-  exit %-\n$",
                   s.runs({ "runs", "show", "1" }).stdout)
    local r = H.run({ flags = { "runs", "show", "9" }, env = s.env })
    assert.are.equal(1, r.code)
    assert.matches('no run "9"', r.stderr, 1, true)
  end)

  it("prune --older-than removes finished runs only", function()
    local s = setup()
    s.run({ "a" })
    s.run({ "fail" })
    killed(s)
    assert.are.equal("removed 0 finished runs\n",
                     s.runs({ "runs", "prune", "--older-than", "1h" }).stdout)
    assert.are.equal(3, #s.runs_json())
    assert.are.equal("removed 2 finished runs\n",
                     s.runs({ "runs", "prune", "--older-than", "0s" }).stdout)
    local runs = s.runs_json()
    assert.are.equal(1, #runs)
    assert.are.equal("interrupted", runs[1].status)
  end)
end)
