-- Durable Astra backups: astra.backup is a step of its own. Unless the runbook names the backup,
-- taskrun names it after the run and the step, so that a run killed while its POST was in
-- flight finds exactly its backup on resume (one is adopted, none is sent again once, two are
-- exit 6). A finished call is never sent again. The simulator's request log says how many
-- requests each run sent.
local durable_sim = require("durable_sim")
local cjson = require("cjson")

local ACCOUNT = "/accounts/8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e"
local BACKUPS = ACCOUNT .. "/k8s/v1/apps/app-1/appBackups"

-- arg[1]: the backup's name, or "-" for taskrun's own; arg[2] == "hold": sleep on the first
-- attempt after printing "ready" (to be killed there).
local RUNBOOK = [==[
local astra = taskrun.astra
local function say(...) print(...) io.stdout:flush() end
local t = astra.backup("app-1", arg[1] ~= "-" and { name = arg[1] } or nil)
say(t.id, t.raw.resourceID, t.raw.name)
say("ready")
if arg[2] == "hold" and taskrun.run.attempt == 1 then taskrun.sleep(60) end
]==]

local function setup()
  return durable_sim.setup({ runbook = RUNBOOK, token = "sim-astra-token", finally = finally })
end

local function posts(s)
  return s.requests("POST", BACKUPS)
end

local function backups(s)
  return s.call("GET", BACKUPS).items
end

-- A second backup named `name`, made through the API as another client would.
local function another(s, name)
  return s.call("POST", BACKUPS, { type = "application/astra-appBackup", version = "1.1",
                                   name = name })
end

local function fields(out)
  return out:match("^(%S+)\t(%S+)\t(%S+)\n")
end

describe("astra.backup in a journaled run", function()
  it("names the backup after the run and the step: a Kubernetes name, the same on resume",
    function()
      local s = setup()
      s.kill_in_flight({ "-" }, "POST", BACKUPS)
      local name = cjson.decode(posts(s)[1].body).name
      assert.matches("^taskrun%-r%d+%-%x+%-%x%x%x%x%x%x%x%x%-1$", name)
      assert.is_true(#name <= 63)
      local r = s.run({ "-" })
      assert.are.equal(0, r.code, r.stderr)
      local list = backups(s)
      assert.are.equal(1, #list)
      assert.are.equal(name, list[1].name)
      local _, resource = fields(r.stdout)
      assert.are.equal(list[1].id, resource)
      assert.matches('adopted appBackup "' .. list[1].id .. '" named "' .. name .. '"', r.stderr,
        1, true)
      assert.are.equal(1, #posts(s))
      s.finish()
    end)

  it("killed while a named backup's POST was in flight adopts the one of that name", function()
    local s = setup()
    another(s, "nightly")              -- another name: never a candidate
    s.call("DELETE", "/_sim/requests")
    s.kill_in_flight({ "weekly" }, "POST", BACKUPS)
    local r = s.run({ "weekly" })
    assert.are.equal(0, r.code, r.stderr)
    local _, resource, task_name = fields(r.stdout)
    assert.are.equal("astra.backup", task_name)
    assert.are.equal(backups(s)[2].id, resource)
    assert.are.equal(1, #posts(s))
    s.finish()
  end)

  it("finished replays its Task on resume and sends nothing", function()
    local s = setup()
    local p = s.spawn({ "-", "hold" })
    local first = p:line()
    assert.are.equal("ready", p:line())
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)
    local r = s.run({ "-", "hold" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(first .. "\nready\n", r.stdout)
    assert.are.equal(1, #posts(s))
    assert.are.equal(1, #backups(s))
    s.finish()
  end)

  it("whose POST created nothing is sent again, once, under the same name", function()
    local s = setup()
    s.call("POST", "/_sim/faults", { kind = "server_error", method = "POST", path = BACKUPS })
    local r1 = s.run({ "-" })
    assert.are.equal(1, r1.code, r1.stderr)
    assert.are.equal(0, #backups(s))
    local r = s.run({ "-" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("sending the request again, once", r.stderr, 1, true)
    local sent = posts(s)
    assert.are.equal(2, #sent)
    assert.are.equal(cjson.decode(sent[1].body).name, cjson.decode(sent[2].body).name)
    assert.are.equal(1, #backups(s))
    s.finish()
  end)

  it("of a name the runbook gave, finding none, stops with exit 6: the name may be another's",
    function()
      local s = setup()
      s.call("POST", "/_sim/faults", { kind = "server_error", method = "POST",
                                            path = BACKUPS })
      assert.are.equal(1, s.run({ "nightly" }).code)
      local r = s.run({ "nightly" })
      assert.are.equal(6, r.code, r.stderr)
      assert.matches("cannot tell whether it acted on it", r.stderr, 1, true)
      assert.are.equal(1, #posts(s))
      s.finish()
    end)

  it("with two backups of its name stops with exit 6, naming both", function()
    local s = setup()
    s.kill_in_flight({ "-" }, "POST", BACKUPS)
    local name = cjson.decode(posts(s)[1].body).name
    another(s, name)
    local list = backups(s)
    assert.are.equal(2, #list)
    local r = s.run({ "-" })
    assert.are.equal(6, r.code, r.stderr)
    assert.matches("in doubt: an operator must decide: astra.backup", r.stderr, 1, true)
    assert.matches("2 candidates", r.stderr, 1, true)
    assert.matches(list[1].id, r.stderr, 1, true)
    assert.matches(list[2].id, r.stderr, 1, true)
    assert.are.equal(2, #posts(s))     -- its own and the second one
    s.finish()
  end)
end)
