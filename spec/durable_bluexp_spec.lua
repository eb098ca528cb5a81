-- bluexp.start_restore as a durable call, against taskrun-sim: a run killed while its POST is in
-- flight adopts the job on resume, a finished call is replayed without a POST, a request that
-- created nothing is sent again exactly once, two candidates or changed arguments stop the run
-- with exit 6, and `taskrun runs resolve` settles it (--id, --redo, --abandon).
--
-- One simulator per scenario outlives the taskrun processes (it is the vendor); its request log
-- file (--request-log) is how the spec sees a POST arrive, and how it counts them. A POST is
-- held in flight by a latency fault: the simulator creates the job first, then holds the answer.
local H = require("harness")
local backend = require("backend")
local json = require("cjson")

local RESTORE = "/account/account-sim00001/providers/cloudmanager_cbs/api/v2/restore"

-- TARGET: the target volume (default vol1_restore); HOLD: print "ready" after the call and sleep
-- on the first attempt (to be killed there; later attempts end at once).
local RUNBOOK = [==[
local bluexp = taskrun.bluexp
print("attempt " .. taskrun.run.attempt)
io.stdout:flush()
local task = bluexp.start_restore({ restore = { type = "volume",
  source = { ["working-environment-id"] = "VsaWorkingEnvironment-demo", ["volume-name"] = "vol1",
             bucket = "backups", snapshot = "daily.0" },
  target = { ["working-environment-id"] = "VsaWorkingEnvironment-demo", svm = "svm1",
             ["volume-name"] = os.getenv("TARGET") or "vol1_restore" } } })
print("job " .. tostring(task.id))
if os.getenv("HOLD") and taskrun.run.attempt == 1 then
  print("ready")
  io.stdout:flush()
  taskrun.sleep(60)
end
]==]

local function setup()
  local s = { dir = H.tmpdir() }
  s.log = s.dir .. "/requests.log"
  s.sim = H.start_sim({ "--request-log", s.log })
  s.script = H.write_tmp(RUNBOOK, ".lua")
  s.env = H.sim_env(s.sim, backend.env(s.dir))
  local function env(extra)
    local e = {}
    for k, v in pairs(s.env) do e[k] = v end
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end
  function s.run(extra)
    return H.run({ script_path = s.script, env = env(extra) })
  end
  function s.spawn(extra)
    local p = H.spawn({ script_path = s.script, env = env(extra) })
    assert.are.equal("attempt 1", p:line())
    return p
  end
  -- Runs Lua against the simulator, unjournaled, with spec/support/simctl.lua as `sim`.
  function s.admin(code)
    local r = H.run({ flags = { "--no-journal", "-e",
                                'local sim = dofile("spec/support/simctl.lua")\n' .. code },
                      env = s.env })
    assert.are.equal(0, r.code, r.stderr)
    return r.stdout
  end
  function s.cli(...)
    return H.run({ flags = { "runs", ... }, env = s.env })
  end
  -- The restore POSTs the simulator saw: { answered =, dropped = }.
  function s.posts()
    local n = { answered = 0, dropped = 0 }
    local f = io.open(s.log, "rb")
    if not f then return n end
    for line in f:lines() do
      local ok, e = pcall(json.decode, line)
      if ok and e.method == "POST" and e.path == RESTORE then
        if e.status == json.null then n.dropped = n.dropped + 1
        else n.answered = n.answered + 1 end
      end
    end
    f:close()
    return n
  end
  -- The restore jobs the simulator has, by id.
  function s.jobs()
    return json.decode(s.admin([[
      local ids = {}
      for _, t in ipairs(taskrun.bluexp.restore_jobs()) do ids[#ids + 1] = t.id end
      print(taskrun.json.encode(taskrun.json.array(ids)))]]))
  end
  -- Starts the runbook with its POST held in flight, and kills it (SIGKILL) once the simulator
  -- has the POST (and so the job): the answer is lost.
  function s.kill_in_flight()
    s.admin(string.format('sim.fault({ kind = "latency", method = "POST", path = %q, '
      .. 'ms = 30000 })', RESTORE))
    local p = s.spawn()
    for _ = 1, 3000 do
      if s.posts().answered > 0 then break end
      os.execute("sleep 0.01")
    end
    assert.are.equal(1, s.posts().answered, "the POST never reached the simulator")
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)
    s.admin("sim.clear_faults()")
  end
  return s
end

-- The handle and run the in-doubt message tells the operator to resolve.
local function handle_of(stderr)
  local run, step = stderr:match("taskrun runs resolve (%S+) (%S+) %-%-id ID")
  assert(step, "no resolve command in: " .. stderr)
  return run, step
end

local scenarios = {}
local function scenario(name, fn)
  it(name, function()
    local s = setup()
    scenarios[#scenarios + 1] = s
    fn(s)
  end)
end

describe("bluexp.start_restore in a journaled run", function()
  after_each(function()
    for _, s in ipairs(scenarios) do s.sim.stop() end
    scenarios = {}
  end)

  scenario("killed while its POST is in flight adopts the job on resume: one POST", function(s)
    s.kill_in_flight()
    local jobs = s.jobs()
    assert.are.equal(1, #jobs)
    local r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("attempt 2\njob " .. jobs[1] .. "\n", r.stdout)
    assert.matches("its answer was never recorded; adopted job \"" .. jobs[1] .. "\"", r.stderr,
      1, true)
    assert.are.same({ answered = 1, dropped = 0 }, s.posts())
    assert.are.same(jobs, s.jobs())
  end)

  scenario("finished before a kill is replayed on resume: no POST", function(s)
    local p = s.spawn({ HOLD = "1" })
    local job = p:line():match("^job (%S+)$")
    assert.are.equal("ready", p:line())
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)
    local r = s.run({ HOLD = "1" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("attempt 2\njob " .. job .. "\n", r.stdout)
    assert.are.same({ answered = 1, dropped = 0 }, s.posts())
  end)

  scenario("whose request created nothing is sent again exactly once", function(s)
    -- Every attempt dropped (libcurl quietly resends once on a reused connection): the vendor
    -- never saw the request, the run never saw an answer.
    s.admin(string.format('sim.fault({ kind = "drop", method = "POST", path = %q, count = -1 })',
      RESTORE))
    local r = s.run()
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("transport: POST .*Empty reply from server", r.stderr)
    local runs = json.decode(s.cli("--json").stdout)
    assert.are.equal("in-doubt", runs[1].status)
    assert.are.same({}, s.jobs())
    local dropped = s.posts().dropped
    assert.is_true(dropped >= 1)
    s.admin("sim.clear_faults()")
    r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("the vendor has nothing it created; sending the request again, once", r.stderr,
      1, true)
    local jobs = s.jobs()
    assert.are.equal(1, #jobs)
    assert.are.equal("attempt 2\njob " .. jobs[1] .. "\n", r.stdout)
    assert.are.same({ answered = 1, dropped = dropped }, s.posts())
  end)

  scenario("with two candidate jobs stops with exit 6 naming both, sending nothing", function(s)
    s.kill_in_flight()
    -- A matching restore started by someone else meanwhile (unjournaled).
    s.admin("taskrun.bluexp.start_restore(" .. RUNBOOK:match("start_restore(%b())"):sub(2, -2)
      .. ")")
    local jobs = s.jobs()
    assert.are.equal(2, #jobs)
    local r = s.run()
    assert.are.equal(6, r.code, r.stderr)
    assert.matches("in doubt: an operator must decide", r.stderr, 1, true)
    assert.matches("the vendor has 2 candidates", r.stderr, 1, true)
    for _, id in ipairs(jobs) do assert.matches('job "' .. id .. '"', r.stderr, 1, true) end
    assert.are.equal("attempt 2\n", r.stdout)
    assert.are.same({ answered = 2, dropped = 0 }, s.posts())
    assert.are.equal("in-doubt", json.decode(s.cli("--json").stdout)[1].status)
  end)

  scenario("resumed with other arguments while the first call is in doubt: exit 6, saying what",
    function(s)
    s.kill_in_flight()
    local r = s.run({ TARGET = "vol2_restore" })
    assert.are.equal(6, r.code, r.stderr)
    assert.matches('restore.target.volume-name: "vol1_restore" (journal) vs "vol2_restore" (now)',
      r.stderr, 1, true)
    assert.are.equal("attempt 2\n", r.stdout)
    assert.are.same({ answered = 1, dropped = 0 }, s.posts())
  end)

  describe("in doubt, settled with taskrun runs resolve", function()
    -- Two candidates: exit 6; returns the jobs and the run and step to resolve.
    local function two_candidates(s)
      s.kill_in_flight()
      local first = s.jobs()[1]
      s.admin("taskrun.bluexp.start_restore(" .. RUNBOOK:match("start_restore(%b())"):sub(2, -2)
        .. ")")
      local r = s.run()
      assert.are.equal(6, r.code, r.stderr)
      local run, step = handle_of(r.stderr)
      return first, run, step
    end

    scenario("--id JOB goes on with that job: no POST", function(s)
      local first, run, step = two_candidates(s)
      local r = s.cli("resolve", run, step, "--id", first)
      assert.are.equal(0, r.code, r.stderr)
      r = s.run()
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("attempt 3\njob " .. first .. "\n", r.stdout)
      assert.are.same({ answered = 2, dropped = 0 }, s.posts())
      local shown = json.decode(s.cli("show", run, "--json").stdout)
      assert.are.same({ "finished", first, "id" }, { shown.steps[1].state,
        shown.steps[1].created_id, shown.steps[1].resolution.how })
    end)

    scenario("--redo sends the request exactly once more", function(s)
      local _, run, step = two_candidates(s)
      local r = s.cli("resolve", run, step, "--redo")
      assert.are.equal(0, r.code, r.stderr)
      r = s.run()
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("sending the request again, as an operator decided", r.stderr, 1, true)
      local jobs = s.jobs()
      assert.are.equal(3, #jobs)
      assert.are.equal("attempt 3\njob " .. jobs[3] .. "\n", r.stdout)
      assert.are.same({ answered = 3, dropped = 0 }, s.posts())
    end)

    scenario("--abandon ends the run: the next start is a new run", function(s)
      local _, run, step = two_candidates(s)
      local r = s.cli("resolve", run, step, "--abandon")
      assert.are.equal(0, r.code, r.stderr)
      r = s.run()
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("^attempt 1\njob ", r.stdout)
      local runs = json.decode(s.cli("--json").stdout)
      assert.are.same({ { run, "abandoned" }, { "2", "finished" } },
        { { runs[1].id, runs[1].status }, { runs[2].id, runs[2].status } })
      assert.are.same({ answered = 3, dropped = 0 }, s.posts())
    end)
  end)
end)
