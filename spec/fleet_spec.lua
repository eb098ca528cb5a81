-- A fleet sharing one PostgreSQL journal (a throwaway cluster for this file, support/pg.lua):
-- many processes starting one key run it once, a killed runner's run is taken over by the next
-- start and its POST is not sent again, the database restarting mid-run is survived (or, past
-- TASKRUN_JOURNAL_RETRY, the run stops resumable), a runner whose lock was lost stops while
-- another host goes on, and the database's password never reaches any output.
--
-- Processes here stand for hosts: each has a connection of its own, as another machine would.
_G.SPEC_JOURNAL = "pg"
local H = require("harness")
local backend = require("backend")
local json = require("cjson")

local RESTORE = "/account/account-sim00001/providers/cloudmanager_cbs/api/v2/restore"

local function touch(path)
  assert(io.open(path, "wb")):close()
end

-- s with the first `a` (plain text) replaced by b.
local function replace(s, a, b)
  local i, j = s:find(a, 1, true)
  return s:sub(1, i - 1) .. b .. s:sub(j + 1)
end

-- Prints "ran PID" (its own pid) and "ready ATTEMPT", then journals a step every 20 ms until the
-- file arg[1] exists; then one more step, and "done ATTEMPT".
local TICKER = [==[
local release = arg[1]
local function exists(p) local f = io.open(p, "rb") if f then f:close() end return f ~= nil end
local stat = assert(io.open("/proc/self/stat"))
local pid = stat:read("n")
stat:close()
taskrun.step("before", function() return 1 end)
print("ran " .. math.tointeger(pid))
print("ready " .. taskrun.run.attempt)
io.stdout:flush()
local i = 0
while not exists(release) do
  i = i + 1
  taskrun.step("tick", function() return i end)
  taskrun.sleep(0.02)
end
taskrun.step("after", function() return 2 end)
print("done " .. taskrun.run.attempt)
]==]

-- A journal of its own (a schema), a ticker script and its release file.
local function setup(extra)
  local s = { dir = H.tmpdir() }
  s.env = backend.env(s.dir)
  for k, v in pairs(extra or {}) do s.env[k] = v end
  s.script = H.write_tmp(TICKER, ".lua")
  s.release = s.dir .. "/release"
  function s.spawn(env)
    local e = {}
    for k, v in pairs(s.env) do e[k] = v end
    for k, v in pairs(env or {}) do e[k] = v end
    local p = H.spawn({ script_path = s.script, args = { s.release }, env = e })
    p.ran = p:line()
    p.ready = p:line()
    assert(p.ready and p.ready:match("^ready %d+$"), "the ticker did not start: "
      .. tostring(p.ran))
    return p
  end
  function s.run(env)
    local e = {}
    for k, v in pairs(s.env) do e[k] = v end
    for k, v in pairs(env or {}) do e[k] = v end
    return H.run({ script_path = s.script, args = { s.release }, env = e })
  end
  function s.show()
    local r = H.run({ flags = { "runs", "show", "1", "--json" }, env = s.env })
    assert.are.equal(0, r.code, r.stderr)
    return json.decode(r.stdout)
  end
  return s
end

-- Starts n tickers of one key at once, each in the background with its output in files.
-- Returns a handle: :codes() the exit codes so far (index -> code), :out(i), :err(i).
local function start_many(s, n)
  local parts = {}
  local env = {}
  for k, v in pairs(s.env) do env[#env + 1] = k .. "=" .. H.quote(v) end
  local cmd = "env " .. table.concat(env, " ") .. " ./taskrun " .. H.quote(s.script) .. " "
    .. H.quote(s.release)
  for i = 1, n do
    local f = s.dir .. "/p" .. i
    parts[#parts + 1] = string.format("(%s >%s.out 2>%s.err </dev/null; echo $? >%s.rc.tmp; "
      .. "mv %s.rc.tmp %s.rc) &", cmd, f, f, f, f, f)
  end
  os.execute("{ " .. table.concat(parts, " ") .. " } >/dev/null 2>&1")
  local m = {}
  function m.codes()
    local c, k = {}, 0
    for i = 1, n do
      local t = H.read_if_there(s.dir .. "/p" .. i .. ".rc")
      if t then c[i] = tonumber(t) k = k + 1 end
    end
    return c, k
  end
  -- Polls the exit files until `count` processes have ended (events: their exits).
  function m.wait_for(count)
    for _ = 1, 6000 do
      local c, k = m.codes()
      if k >= count then return c end
      os.execute("sleep 0.01")
    end
    error("only " .. select(2, m.codes()) .. " of the processes ended")
  end
  function m.out(i) return H.read_if_there(s.dir .. "/p" .. i .. ".out") or "" end
  function m.err(i) return H.read_if_there(s.dir .. "/p" .. i .. ".err") or "" end
  return m
end

describe("one key started by many processes at once", function()
  for _, n in ipairs({ 2, 10 }) do
    it(string.format("%d processes: exactly one runs, the others exit 75 naming its host and pid",
      n), function()
      local s = setup()
      finally(function() touch(s.release) end)   -- a failed check leaves nobody running
      local m = start_many(s, n)
      local codes = m.wait_for(n - 1)
      local winner
      for i = 1, n do
        if not codes[i] then
          assert.is_nil(winner, "two processes still run")
          winner = i
        end
      end
      assert.is_not_nil(winner)
      -- The winner has begun the run (its line may be on its way): wait for it.
      for _ = 1, 6000 do
        if m.out(winner):find("ready 1", 1, true) then break end
        os.execute("sleep 0.01")
      end
      local pid = assert(m.out(winner):match("ran (%d+)"), "the winner printed: " .. m.out(winner))
      for i = 1, n do
        if i ~= winner then
          assert.are.equal(75, codes[i], m.err(i))
          assert.are.equal("", m.out(i))
          assert.matches("is held by pid " .. pid .. " since %d%d%d%d%-%d%d%-%d%dT[%d:]+Z on host "
            .. H.output_line("hostname"):gsub("%p", "%%%0") .. ": nothing was run", m.err(i))
        end
      end
      touch(s.release)
      codes = m.wait_for(n)
      assert.are.equal(0, codes[winner], m.err(winner))
      assert.matches("done 1\n$", m.out(winner))
      local shown = s.show()
      assert.are.same({ "finished", 1 }, { shown.status, #shown.attempts })
      assert.are.equal(tonumber(pid), shown.attempts[1].pid)
    end)
  end
end)

describe("a runner killed with SIGKILL in the middle of a wait", function()
  it("is taken over by the next start at once: resumed, finished, its POST sent once", function()
    local dir = H.tmpdir()
    -- Slow tasks for the first attempt: the restore is still running when it is killed.
    local sim = H.start_sim({ "--speed", "0.01" })
    local env = H.sim_env(sim, backend.env(dir))
    local script = H.write_tmp([==[
local bluexp = taskrun.bluexp
local task = bluexp.start_restore({ restore = { type = "volume",
  source = { ["working-environment-id"] = "VsaWorkingEnvironment-demo", ["volume-name"] = "vol1",
             bucket = "backups", snapshot = "daily.0" },
  target = { ["working-environment-id"] = "VsaWorkingEnvironment-demo", svm = "svm1",
             ["volume-name"] = "vol1_restore" } } })
local polls = 0
local done = taskrun.wait(function()
  polls = polls + 1
  if polls == 2 and taskrun.run.attempt == 1 then print("waiting") io.stdout:flush() end
  return bluexp.job(task.id)
end, { name = "restore", timeout = "60s", interval = 0.05, max_interval = 0.05 })
print("restored " .. done.state .. " attempt " .. taskrun.run.attempt)
]==], ".lua")
    local p = H.spawn({ script_path = script, env = env })
    assert.are.equal("waiting", p:line())
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)   -- and the server has dropped its sessions
    local _, code = sim.call("POST", "/_sim/config", { speed = 1000 })
    assert.are.equal(200, code)
    local r = H.run({ script_path = script, env = env })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("restored COMPLETED attempt 2\n", r.stdout)
    local posts = sim.call("GET", "/_sim/requests?method=POST").requests
    local restores = 0
    for _, rq in ipairs(posts) do
      if rq.path == RESTORE then restores = restores + 1 end
    end
    assert.are.equal(1, restores)
    sim.stop()
    local shown = json.decode(H.run({ flags = { "runs", "show", "1", "--json" }, env = env })
                                .stdout)
    assert.are.same({ "finished", 2, 2 }, { shown.status, shown.attempt, #shown.attempts })
    assert.are.same({ p.pid, json.null, H.output_line("hostname") },
      { shown.attempts[1].pid, shown.attempts[1].status, shown.attempts[1].host })
    assert.are.same({ "finished", H.output_line("hostname") },
      { shown.attempts[2].status, shown.attempts[2].host })
    assert.are_not.equal(p.pid, shown.attempts[2].pid)
  end)
end)

describe("the database restarted in the middle of a run", function()
  it("for a moment: the run waits for it, takes its lock again and goes on", function()
    local s = setup({ TASKRUN_JOURNAL_RETRY = "60s" })
    finally(function() touch(s.release) end)
    local p = s.spawn()
    backend.pg():stop_server()
    backend.pg():start_server()
    touch(s.release)
    local r = p:wait()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("done 1\n$", r.stdout)
    assert.matches("the connection holding the run's locks was lost", r.stderr, 1, true)
    local shown = s.show()
    assert.are.same({ "finished", 1 }, { shown.status, shown.attempt })
  end)

  it("for longer than TASKRUN_JOURNAL_RETRY: the run stops resumable (75), the next start "
    .. "goes on", function()
    local s = setup({ TASKRUN_JOURNAL_RETRY = "1s" })
    finally(function() touch(s.release) end)
    local p = s.spawn()
    backend.pg():stop_server()
    local r = p:wait()
    backend.pg():start_server()
    assert.are.equal(75, r.code, r.stderr)
    assert.matches("the database stayed unreachable for [%d.]+s %(TASKRUN_JOURNAL_RETRY%)",
      r.stderr)
    assert.matches("the run stops here, resumable", r.stderr, 1, true)
    assert.is_nil(r.stdout:find("done", 1, true))
    assert.are.equal("interrupted", s.show().status)
    touch(s.release)
    r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("ready 2\ndone 2\n$", r.stdout)
    assert.are.same({ "finished", 2 }, { s.show().status, s.show().attempt })
  end)
end)

describe("a runner whose lock connection is lost while another process takes the key", function()
  it("stops with exit 75 and writes nothing more; the other finishes the run", function()
    local s = setup()
    local a = s.spawn()
    finally(function()
      touch(s.release)
      a:kill("CONT")
    end)
    -- Frozen, it cannot take its lock again before the other start does.
    a:kill("STOP")
    local pg = backend.pg()
    local gone = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'taskrun["
      .. a.pid .. "] locks'"
    pg:psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
      .. "'taskrun[" .. a.pid .. "] locks'")
    for _ = 1, 1000 do
      if pg:psql(gone) == "0" then break end
      os.execute("sleep 0.01")
    end
    local b = s.spawn()
    assert.are.equal("ready 2", b.ready)
    a:kill("CONT")
    local ra = a:wait()
    assert.are.equal(75, ra.code, ra.stderr)
    assert.matches('the lock "key:.*" was lost %(.*%) and another process holds it now',
      ra.stderr)
    assert.is_nil(ra.stdout:find("done", 1, true))
    touch(s.release)
    local rb = b:wait()
    assert.are.equal(0, rb.code, rb.stderr)
    assert.matches("done 2\n$", rb.stdout)
    local shown = s.show()
    assert.are.same({ "finished", 2 }, { shown.status, shown.attempt })
    assert.are.same({ a.pid, b.pid }, { shown.attempts[1].pid, shown.attempts[2].pid })
    assert.are.equal(json.null, shown.attempts[1].status)
  end)
end)

describe("the journal's password", function()
  local function clean(r, password)
    for _, text in ipairs({ r.stdout, r.stderr }) do
      assert.is_nil(text:find(password, 1, true), text)
    end
  end

  it("never appears: not in errors from libpq, a bad URL, or what the runbook prints", function()
    local pg = backend.pg()
    local dir = H.tmpdir()
    local env = backend.env(dir)
    local wrong = replace(env.TASKRUN_JOURNAL_URL, pg.password, "wrong-pw-7f3a9")
    local r = H.run({ script = "print('ran')", env = { TASKRUN_JOURNAL_URL = wrong,
                                                       TASKRUN_STATE_DIR = dir } })
    assert.are.equal(2, r.code)
    assert.matches("password authentication failed", r.stderr, 1, true)
    assert.matches("TASKRUN_JOURNAL_URL", r.stderr, 1, true)
    clean(r, "wrong-pw-7f3a9")
    r = H.run({ flags = { "--journal", wrong, "runs" }, env = { TASKRUN_STATE_DIR = dir } })
    assert.are.equal(1, r.code)
    clean(r, "wrong-pw-7f3a9")
    r = H.run({ script = "print('ran')", flags = { "--journal", "mysql://u:s3cr3t-pw@db/x" } })
    assert.are.equal(2, r.code)
    assert.matches("not a postgresql:// URL", r.stderr, 1, true)
    clean(r, "s3cr3t-pw")
    -- Nothing listens there: unreachable, retried for no time, exit 75.
    local closed = replace(env.TASKRUN_JOURNAL_URL, ":" .. pg.port .. "/", ":1/")
    r = H.run({ script = "print('ran')", env = { TASKRUN_JOURNAL_URL = closed,
                TASKRUN_JOURNAL_RETRY = "0s", TASKRUN_STATE_DIR = dir } })
    assert.are.equal(75, r.code, r.stderr)
    assert.matches("cannot reach the journal database postgresql://taskrun:[REDACTED]@",
      r.stderr, 1, true)
    clean(r, pg.password)
    r = H.run({ script = "print(os.getenv('TASKRUN_JOURNAL_URL')) error('boom: ' .. "
      .. "os.getenv('TASKRUN_JOURNAL_URL'))", env = env })
    assert.are.equal(1, r.code)
    assert.matches("postgresql://taskrun:[REDACTED]@127.0.0.1", r.stdout, 1, true)
    clean(r, pg.password)
  end)

  it("read from TASKRUN_JOURNAL_URL_FILE (a mounted secret) works the same", function()
    local dir = H.tmpdir()
    local env = backend.env(dir)
    local file = H.write_tmp(env.TASKRUN_JOURNAL_URL .. "\n")
    env.TASKRUN_JOURNAL_URL_FILE, env.TASKRUN_JOURNAL_URL = file, false
    local r = H.run({ script = "print(taskrun.run.attempt)", flags = { "--run-id", "from-file" },
                      env = env })
    assert.are.equal(0, r.code, r.stderr)
    r = H.run({ flags = { "runs", "show", "from-file", "--json" }, env = env })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("finished", json.decode(r.stdout).status)
  end)
end)
