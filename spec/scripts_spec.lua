-- The example runbooks in scripts/ run green under `./taskrun --sim` and say what they did;
-- `--sim` leaves no simulator behind, however the run ends.
local H = require("harness")

-- Every scripts/*.lua, listed from the directory so a new script is run without editing this.
local function all_scripts()
  local p = assert(io.popen("ls scripts/*.lua"))
  local list = {}
  for path in p:lines() do list[#list + 1] = path end
  p:close()
  return list
end

local function run_script(path, args, flags)
  local all_flags = { "--sim" }
  for _, f in ipairs(flags or {}) do all_flags[#all_flags + 1] = f end
  return H.run({ flags = all_flags, script_path = path, args = args })
end

-- A pattern matching s literally (ids have dashes).
local function literal(s)
  return (s:gsub("%p", "%%%0"))
end

-- Asserts the patterns appear in text in this order.
local function in_order(text, patterns)
  local at = 1
  for _, pat in ipairs(patterns) do
    local s, e = text:find(pat, at)
    assert(s, string.format("expected %q after position %d in:\n%s", pat, at, text))
    at = e + 1
  end
end

-- What each script prints when it worked: its result lines on stdout and, where it waits,
-- the wait's progress on stderr. A new script needs an entry (a spec below says so).
local EXPECT = {
  ["scripts/hello_sim.lua"] = function(r)
    assert.are.equal("redpanda mount tasks   2\nkeycard catalog task   1\n"
      .. "astra tasks            1\nbluexp restore jobs    3\n", r.stdout)
  end,
  ["scripts/astra_backup.lua"] = function(r)
    in_order(r.stderr, { "astra task [%x-]+: running 0%%", "%-> completed 100%%",
                         "completed after %d+ polls" })
    assert.matches("^backup of app%-demo: completed %(task [%x-]+%)\n"
      .. "%d+ tasks? still running in the account\n", r.stdout)
  end,
  ["scripts/bluexp_restore_status.lua"] = function(r)
    local id = r.stdout:match("^restore job ([%x-]+): PENDING\n")
    assert(id, "the new job is listed first as PENDING:\n" .. r.stdout)
    in_order(r.stderr, { "bluexp task " .. literal(id) .. ": PENDING", "%-> COMPLETED" })
    assert.matches("\nrestore job " .. literal(id)
      .. ": COMPLETED, started %d+%-%d+%-%d+ [%d:]+ UTC\n$", r.stdout)
  end,
  ["scripts/keycard_install.lua"] = function(r)
    in_order(r.stderr, { "keycard task %w+: pending", "%-> completed",
                         "completed after %d+ polls" })
    local id = r.stdout:match("^installed pkg_linear in zone%-demo as (%w+) ")
    assert(id, "the install id is printed:\n" .. r.stdout)
    assert.matches("%(http://127%.0%.0%.1:%d+/zones/zone%-demo/installs/" .. id .. "%)\n$",
      r.stdout)
  end,
  ["scripts/redpanda_mount.lua"] = function(r)
    in_order(r.stderr, { "redpanda task 1: STATE_PLANNED", "%-> STATE_FINISHED",
                         "STATE_FINISHED after %d+ polls" })
    assert.matches("^mounted orders: mount task 1 STATE_FINISHED %- finished: the task was "
      .. "deleted after STATE_[%u_]+; verified by the topic list: orders exists\n$", r.stdout)
  end,
  ["scripts/restore_then_mount.lua"] = function(r)
    in_order(r.stderr, { "restoring volume vol1 %(snapshot daily.0%) to svm1/vol1_restore as job",
                         "bluexp task [%x-]+: PENDING", "%-> COMPLETED",
                         "mounting topic orders as mount task 1",
                         "redpanda task 1: STATE_PLANNED", "%-> STATE_FINISHED" })
    assert.matches("^restore job [%x-]+: COMPLETED\nmount task 1: STATE_FINISHED %- finished",
      r.stdout)
  end,
}

describe("scripts/", function()
  local scripts = all_scripts()

  it("has scripts, each with its expected output listed here", function()
    assert.is_true(#scripts >= 6, "scripts/*.lua found: " .. #scripts)
    for _, path in ipairs(scripts) do
      assert(EXPECT[path], path .. " has no entry in EXPECT in spec/scripts_spec.lua")
    end
  end)

  for _, path in ipairs(scripts) do
    it(path .. " runs green under --sim and prints what it did", function()
      local r = run_script(path)
      assert.are.equal(0, r.code, r.stderr)
      -- green means no warning or error on the way, not only the exit code
      assert.is_nil(r.stderr:find(" WARN ", 1, true), r.stderr)
      assert.is_nil(r.stderr:find(" ERROR ", 1, true), r.stderr)
      assert.is_nil(r.stderr:find("traceback", 1, true), r.stderr)
      assert.is_true(#r.stdout > 0, "nothing on stdout")
      if EXPECT[path] then EXPECT[path](r) end
    end)
  end
end)

describe("scripts/restore_then_mount.lua MOUNT_TASK_ID", function()
  it("given a mount task under way, waits for it after the restore", function()
    -- Mount task 7 moves one step per read: the wait sees it cut over, then the 404 of a
    -- finished task.
    local scenario = H.write_tmp([[{ "tasks": [ { "provider": "redpanda", "id": 7,
      "mode": "poll",
      "steps": ["STATE_EXECUTING", "STATE_EXECUTING", "STATE_CUT_OVER", "gone"] } ] }]], ".json")
    local sim = H.start_sim({ "--scenario", scenario })
    local ok, r = pcall(H.run, { script_path = "scripts/restore_then_mount.lua", args = { "7" },
                                 env = H.sim_env(sim) })
    sim.stop()
    os.remove(scenario)
    assert(ok, r)
    assert.are.equal(0, r.code, r.stderr)
    in_order(r.stderr, { "bluexp task [%x-]+: PENDING", "%-> COMPLETED",
                         "following mount task 7", "redpanda task 7: STATE_EXECUTING",
                         "STATE_CUT_OVER %-> STATE_FINISHED" })
    assert.matches("^restore job [%x-]+: COMPLETED\nmount task 7: STATE_FINISHED %- finished: "
      .. "the task was deleted after STATE_CUT_OVER", r.stdout)
  end)

  it("given an id that is not a number, stops with usage before starting any restore", function()
    local r = run_script("scripts/restore_then_mount.lua", { "orders" })
    assert.are.equal(2, r.code, r.stderr)
    assert.matches("MOUNT_TASK_ID must be a Redpanda mount task number, got orders", r.stderr,
      1, true)
    assert.is_nil(r.stderr:find("restoring", 1, true), r.stderr)
    assert.are.equal("", r.stdout)
  end)
end)

-- ---- no simulator left behind -------------------------------------------------------------


-- The pid's command name and parent, or nil once the process is gone (a zombie still counts:
-- its parent never reaped it).
local function proc_info(pid)
  local stat = H.read_if_there("/proc/" .. pid .. "/stat")
  if not stat then return nil end
  local comm, ppid, pgrp = stat:match("^%d+ %((.*)%) %a (%d+) (%d+)")
  return { comm = comm, ppid = tonumber(ppid), pgrp = tonumber(pgrp) }
end

local function sim_left(pid)
  local info = proc_info(pid)
  return info ~= nil and info.comm == "taskrun-sim"
end

-- The taskrun-sim processes whose parent is pid.
local function sims_of(pid)
  local found = {}
  local p = assert(io.popen("ls /proc"))
  for name in p:lines() do
    local info = name:match("^%d+$") and proc_info(name)
    if info and info.ppid == pid and info.comm == "taskrun-sim" then
      found[#found + 1] = tonumber(name)
    end
  end
  p:close()
  return found
end

-- The simulator's pid, as taskrun logs it at debug level.
local function logged_sim_pid(stderr)
  local pid = stderr:match("%-%-sim: taskrun%-sim (%d+) listens on http://")
  assert(pid, "taskrun did not log the simulator's pid:\n" .. stderr)
  return tonumber(pid)
end

-- How long hello_sim.lua lingers for the interrupt specs: time enough to signal it, and a
-- signal that does not work fails the spec within a minute instead of hanging it.
local LINGER = "60s"

-- If the spec fails before the process was waited for, ends it rather than leave it lingering.
local function cleanup(proc)
  local waited = false
  local wait = proc.wait
  function proc:wait() waited = true return wait(self) end
  finally(function() if not waited then proc:kill("TERM") end end)
  return proc
end

-- Reads hello_sim's lines up to the one that proves the run is under way, lingering.
local function until_lingering(proc)
  local lines = {}
  repeat
    local line = proc:line()
    assert(line, "hello_sim.lua ended before lingering; it printed:\n" .. table.concat(lines, "\n"))
    lines[#lines + 1] = line
  until line:match("^simulator at http://127%.0%.0%.1:%d+ for " .. LINGER .. "; Ctrl%-C to stop$")
  assert.are.equal(5, #lines, table.concat(lines, "\n"))
  return lines
end

describe("./taskrun --sim scripts/hello_sim.lua", function()
  it("runs green and its simulator is gone when it ends", function()
    local r = run_script("scripts/hello_sim.lua", nil, { "--log-level", "debug" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^redpanda mount tasks%s+2\n", r.stdout)
    local pid = logged_sim_pid(r.stderr)
    assert.is_false(sim_left(pid), "taskrun-sim " .. pid .. " is still there")
  end)

  it("on SIGINT to taskrun exits 130 and its simulator is gone", function()
    local p = cleanup(H.spawn({ flags = { "--sim" }, script_path = "scripts/hello_sim.lua",
                                args = { LINGER } }))
    until_lingering(p)
    local sims = sims_of(p.pid)
    assert.are.equal(1, #sims, "taskrun runs one simulator")
    p:kill("INT")
    local r = p:wait()
    assert.are.equal(130, r.code, r.stderr)
    assert.matches("interrupted by SIGINT", r.stderr, 1, true)
    assert.is_false(sim_left(sims[1]), "taskrun-sim " .. sims[1] .. " is still there")
  end)

  it("on Ctrl-C (SIGINT to the whole process group) exits 130 and its simulator is gone",
    function()
    local p = cleanup(H.spawn({ flags = { "--sim" }, script_path = "scripts/hello_sim.lua",
                                args = { LINGER }, setsid = true }))
    until_lingering(p)
    -- setsid made taskrun the leader of a group of its own, which its simulator shares
    assert.are.equal(p.pid, proc_info(p.pid).pgrp)
    local sims = sims_of(p.pid)
    assert.are.equal(1, #sims, "taskrun runs one simulator")
    assert.are.equal(p.pid, proc_info(sims[1]).pgrp)
    os.execute("kill -INT -" .. p.pid)
    local r = p:wait()
    assert.are.equal(130, r.code, r.stderr)
    assert.matches("interrupted by SIGINT", r.stderr, 1, true)
    assert.is_false(sim_left(sims[1]), "taskrun-sim " .. sims[1] .. " is still there")
  end)
end)

describe("taskrun --sim", function()
  it("given a runbook that dies of an uncaught error, exits 1 and its simulator is gone",
    function()
    local r = H.run({ flags = { "--sim", "--log-level", "debug" }, script = [[
      taskrun.http.get(os.getenv("TASKRUN_SIM_URL") .. "/_sim/stats")
      error("the runbook broke")
    ]] })
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("the runbook broke", r.stderr, 1, true)
    local pid = logged_sim_pid(r.stderr)
    assert.is_false(sim_left(pid), "taskrun-sim " .. pid .. " is still there")
  end)

  it("given a runbook that calls os.exit, exits with its code and its simulator is gone",
    function()
    local r = H.run({ flags = { "--sim", "--log-level", "debug" }, script = "os.exit(3)" })
    assert.are.equal(3, r.code, r.stderr)
    local pid = logged_sim_pid(r.stderr)
    assert.is_false(sim_left(pid), "taskrun-sim " .. pid .. " is still there")
  end)
end)

describe("scripts/restore_then_mount.lua under --sim", function()
  it("takes the obtained-token path and renews tokens during the run (--log-level debug)",
    function()
      -- 2 s tokens are renewed after 1.5 s: the restore and the mount each outlive that.
      local r = H.run({ flags = { "--sim", "--sim-token-ttl", "2s", "--log-level", "debug" },
                        script_path = "scripts/restore_then_mount.lua" })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("^restore job [%x-]+: COMPLETED\nmount task 1: STATE_FINISHED", r.stdout)
      in_order(r.stderr, {
        literal("DEBUG bluexp: token obtained from BLUEXP_REFRESH_TOKEN: expires in 2s, "
          .. "renewed after 1.5s"),
        "restoring volume vol1",
        literal("DEBUG redpanda: token obtained from REDPANDA_CLIENT_ID: expires in 2s, "
          .. "renewed after 1.5s"),
        "mounting topic orders",
      })
      assert.matches("DEBUG %a+: token renewed from [%u_]+: expires in 2s", r.stderr)
      -- the credentials --sim gave are never shown
      for _, secret in ipairs({ "sim-redpanda-secret", "sim-bluexp-refresh" }) do
        assert.is_nil(r.stderr:find(secret, 1, true), r.stderr)
      end
    end)
end)
