-- `taskrun runs resolve RUN STEP --id ID | --redo | --abandon`: an operator settles a provider
-- call in doubt (exit 6), journaled with who and when; and `runs show` shows each step's
-- resolution and handle, with the credentials in results and errors redacted.
--
-- The runbook here records a call in doubt through taskrun._journal exactly as calls.lua does
-- (started, durably, then the run ends in doubt), so that these scenarios need no simulator;
-- spec/durable_bluexp_spec.lua settles real ones against it.
local H = require("harness")
local backend = require("backend")
local json = require("cjson")

local KEY = "call:bluexp.start_restore:0123456789abcdef"

-- arg[1]: "hold" prints "ready" and sleeps on its first attempt with the call started (to hold
-- its key lock); any other first attempt ends in doubt, exit 6. Later attempts print what the
-- journal holds for the call and end at once.
local RUNBOOK = [==[
local journal = require("taskrun._journal")
local KEY = "call:bluexp.start_restore:0123456789abcdef"
taskrun.step("creds", function()
  return { user = "ops", api_token = "t0k3n", deep = { list = { { Client_Secret = { a = 1 } } },
           ["X-Api-Key"] = "k3y", AUTHORIZATION = "Bearer b34r3r", note = "kept" } }
end)
if taskrun.run.attempt == 1 then
  journal.started(KEY, 1, json.encode({ call = "bluexp.start_restore",
    args = { { restore = { password = "p4ss" } } } }), true)
  if arg[1] == "hold" then
    print("ready")
    io.stdout:flush()
    taskrun.sleep(60)
  end
  journal.mark_in_doubt()
  error(taskrun.error("in_doubt", "in doubt: an operator must decide"))
end
local state, _, _, created = journal.get(KEY, 1)
print("attempt " .. taskrun.run.attempt .. " " .. tostring(state) .. " " .. tostring(created))
]==]

local function setup(mode)
  local s = { dir = H.tmpdir() }
  s.script = H.write_tmp("local json = require('taskrun.json')\n" .. RUNBOOK, ".lua")
  s.env = backend.env(s.dir)
  function s.run()
    return H.run({ script_path = s.script, args = { mode or "doubt" }, env = s.env })
  end
  function s.cli(...)
    return H.run({ flags = { "runs", ... }, env = s.env })
  end
  function s.show()
    local r = s.cli("show", "1", "--json")
    assert.are.equal(0, r.code, r.stderr)
    return json.decode(r.stdout)
  end
  if mode ~= "hold" then
    local r = s.run()
    assert.are.equal(6, r.code, r.stderr)
  end
  return s
end

local RFC3339 = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"

describe("taskrun runs show", function()
  it("redacts credentials at any depth of results, in JSON and text", function()
    local s = setup()
    local shown = s.show()
    local creds, call = shown.steps[1], shown.steps[2]
    assert.are.same({ n = 1, v = { { user = "ops", api_token = "[redacted]",
      deep = { list = { { Client_Secret = "[redacted]" } }, ["X-Api-Key"] = "[redacted]",
               AUTHORIZATION = "[redacted]", note = "kept" } } } }, creds.result)
    assert.are.same({ { restore = { password = "[redacted]" } } }, call.result.args)
    local text = s.cli("show", "1")
    assert.are.equal(0, text.code, text.stderr)
    for _, secret in ipairs({ "t0k3n", "k3y", "b34r3r", "p4ss", '"a":1' }) do
      assert.is_nil(text.stdout:find(secret, 1, true), secret)
      assert.is_nil(s.cli("show", "1", "--json").stdout:find(secret, 1, true), secret)
    end
    assert.matches('"api_token":"[redacted]"', text.stdout, 1, true)
    assert.matches('"note":"kept"', text.stdout, 1, true)
  end)

  it("gives each step its position and handle, and no resolution until one is made", function()
    local s = setup()
    local shown = s.show()
    assert.are.same({ "creds", 1, "finished", 1, "creds#1", json.null },
      { shown.steps[1].name, shown.steps[1].seq, shown.steps[1].state, shown.steps[1].position,
        shown.steps[1].handle, shown.steps[1].resolution })
    assert.are.same({ KEY, "started", 2, KEY .. "#1", json.null },
      { shown.steps[2].name, shown.steps[2].state, shown.steps[2].position,
        shown.steps[2].handle, shown.steps[2].resolution })
    local text = s.cli("show", "1").stdout
    assert.matches("  step 2  " .. KEY .. " #1  started  .*  handle " .. KEY .. "#1\n", text)
  end)
end)

describe("taskrun runs resolve", function()
  it("--id ID records the step finished with that id, who and when; the run goes on", function()
    local s = setup()
    local r = s.cli("resolve", "1", KEY .. "#1", "--id", "job-7")
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^run 1: step " .. KEY .. "#1 adopts id job%-7 %(recorded by .+@.+ "
      .. "%(uid %d+%)%); run it again to go on with it\n$", r.stdout)
    local step = s.show().steps[2]
    assert.are.same({ "finished", "job-7", "id", "job-7" },
      { step.state, step.created_id, step.resolution.how, step.resolution.id })
    assert.matches("^.+@.+ %(uid %d+%)$", step.resolution.by)
    assert.matches(RFC3339, step.resolution.at)
    -- Settled, it ended then (step times carry milliseconds).
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z$", step.ended)
    assert.matches('resolution {"how":"id","id":"job-7","by":', s.cli("show", "1").stdout, 1,
      true)
    r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("attempt 2 finished job-7\n", r.stdout)
  end)

  it("--redo sets the call to be sent again; a key without #n is #1", function()
    local s = setup()
    local r = s.cli("resolve", "1", KEY, "--redo")
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^run 1: step " .. KEY .. "#1 will be sent again on the next run", r.stdout)
    local step = s.show().steps[2]
    assert.are.same({ "redo", json.null, "redo", json.null },
      { step.state, step.created_id, step.resolution.how, step.resolution.id })
    r = s.cli("resolve", "1", KEY, "--redo")
    assert.are.equal(2, r.code)
    assert.matches("already set to be sent again on the next run; nothing to resolve", r.stderr,
      1, true)
  end)

  it("--abandon ends the run abandoned, the step as it was; the next start is a new run",
    function()
    local s = setup()
    local r = s.cli("resolve", "1", "2", "--abandon")
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^run 1: abandoned at step " .. KEY .. "#1 .*its next start begins a new run",
      r.stdout)
    local shown = s.show()
    assert.are.same({ "abandoned", "started", "abandon" },
      { shown.status, shown.steps[2].state, shown.steps[2].resolution.how })
    r = s.run()
    assert.are.equal(6, r.code, r.stderr)
    local runs = json.decode(s.cli("--json").stdout)
    assert.are.same({ { "1", "abandoned" }, { "2", "in-doubt" } },
      { { runs[1].id, runs[1].status }, { runs[2].id, runs[2].status } })
    assert.are.equal(1, runs[2].attempt)
  end)

  it("of a run in progress exits 75 naming its holder; once it is killed, settles it", function()
    local s = setup("hold")
    local p = H.spawn({ script_path = s.script, args = { "hold" }, env = s.env })
    assert.are.equal("ready", p:line())
    local r = s.cli("resolve", "1", "2", "--redo")
    assert.are.equal(75, r.code)
    assert.are.equal("", r.stdout)
    assert.matches("run 1 is running %(held by pid " .. p.pid .. " since %d%d%d%d%-", r.stderr)
    local step = s.show().steps[2]
    assert.are.same({ "started", json.null }, { step.state, step.resolution })
    -- Killed, the run has no end in the journal: it is interrupted, and can be settled.
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)
    r = s.cli("resolve", "1", "2", "--redo")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("redo", s.show().steps[2].state)
  end)

  it("refuses what is not a call in doubt, saying why (exit 2)", function()
    local s = setup()
    local cases = {
      { { "1", "creds#1", "--redo" }, "step creds#1 of run 1 finished; nothing to resolve" },
      { { "1", "1", "--id", "x" }, "step creds#1 of run 1 finished; nothing to resolve" },
      { { "1", "3", "--redo" }, "run 1 has 2 steps, no step 3" },
      { { "1", "call:nope#2", "--redo" }, "run 1 has no step call:nope#2" },
      { { "1", "2" }, "resolve needs one of --id ID" },
      { { "1", "2", "--redo", "--abandon" }, "resolve needs one of --id ID" },
      { { "1", "2", "--id", "" }, "--id needs a non-empty ID" },
      { { "1" }, "resolve needs a RUN and a STEP" },
    }
    for _, case in ipairs(cases) do
      local r = s.cli("resolve", table.unpack(case[1]))
      assert.are.equal(2, r.code, table.concat(case[1], " "))
      assert.matches(case[2], r.stderr, 1, true)
      assert.are.equal("", r.stdout)
    end
    local r = s.cli("resolve", "9", "2", "--redo")
    assert.are.equal(1, r.code)
    assert.matches('no run "9"', r.stderr, 1, true)
    assert.are.same({ "started", json.null }, { s.show().steps[2].state,
                                                 s.show().steps[2].resolution })
    -- Settled once, the step is no longer in doubt.
    assert.are.equal(0, s.cli("resolve", "1", "2", "--id", "job-1").code)
    r = s.cli("resolve", "1", "2", "--redo")
    assert.are.equal(2, r.code)
    assert.matches("finished with id job-1; nothing to resolve", r.stderr, 1, true)
  end)

  it("refuses a run that finished: its next start is a new run anyway", function()
    local s = setup()
    assert.are.equal(0, s.cli("resolve", "1", "2", "--id", "job-1").code)
    assert.are.equal(0, s.run().code)
    local r = s.cli("resolve", "1", "2", "--redo")
    assert.are.equal(2, r.code)
    assert.matches("run 1 is finished: nothing to resolve", r.stderr, 1, true)
  end)
end)
