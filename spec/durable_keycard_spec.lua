-- Durable Keycard calls: keycard.install and keycard.uninstall are steps of their own. A run
-- killed while its request was in flight is reconciled on resume through the zone's installs
-- (Keycard lists installs, not the catalog tasks that made them): one match is adopted, none is
-- sent again once, two are exit 6. A finished call is never sent again. The simulator's request
-- log says how many requests each run sent.
local durable_sim = require("durable_sim")

local ZONE = "/zones/z1/installs"

-- arg[1]: "install" (a pkg_linear install in zone z1) or "uninstall" (of install arg[2]);
-- arg[3] == "hold": sleep on the first attempt after printing "ready" (to be killed there).
local RUNBOOK = [==[
local keycard = taskrun.keycard
local function say(...) print(...) io.stdout:flush() end
local t
if arg[1] == "install" then
  t = keycard.install("z1", { package_id = "pkg_linear", inputs = { team = "ops" } })
else
  t = keycard.uninstall("z1", arg[2])
end
say(arg[1], t.id, t.install_id, t.status)
say("ready")
if arg[3] == "hold" and taskrun.run.attempt == 1 then taskrun.sleep(60) end
]==]

local function setup()
  return durable_sim.setup({ runbook = RUNBOOK, token = "sim-keycard-token", finally = finally })
end

local function installs(s)
  return s.call("GET", ZONE).items
end

local function fields(out)
  return out:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)\n")
end

describe("keycard.install in a journaled run", function()
  it("killed while its POST was in flight adopts the one install it made, sending nothing",
    function()
      local s = setup()
      s.kill_in_flight({ "install" }, "POST", ZONE)
      local list = installs(s)
      assert.are.equal(1, #list)
      local r = s.run({ "install" })
      assert.are.equal(0, r.code, r.stderr)
      local what, id, install_id = fields(r.stdout)
      assert.are.equal("install", what)
      assert.are.equal("install:" .. list[1].id, id)
      assert.are.equal(list[1].id, install_id)
      assert.matches("adopted install \"" .. list[1].id .. "\"", r.stderr, 1, true)
      assert.are.equal(1, #s.requests("POST", ZONE))
      assert.are.equal(1, #installs(s))
      s.finish()
    end)

  it("finished replays its Task on resume and sends nothing", function()
    local s = setup()
    local p = s.spawn({ "install", "-", "hold" })
    local first = p:line()
    assert.are.equal("ready", p:line())
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)
    local r = s.run({ "install", "-", "hold" })
    assert.are.equal(0, r.code, r.stderr)
    local _, id, install_id = fields(first .. "\n")
    local _, id2, install_id2 = fields(r.stdout)
    assert.are.equal(id, id2)                      -- the catalog task, read again by its id
    assert.are.equal(install_id, install_id2)
    assert.are.equal(1, #s.requests("POST", ZONE))
    assert.are.equal(1, #installs(s))
    s.finish()
  end)

  it("whose POST created nothing is sent again, once", function()
    local s = setup()
    -- A 503 in place of the answer: the request went out, the vendor did nothing.
    s.call("POST", "/_sim/faults", { kind = "server_error", method = "POST", path = ZONE })
    local r1 = s.run({ "install" })
    assert.are.equal(1, r1.code, r1.stderr)
    assert.are.equal(0, #installs(s))
    local r = s.run({ "install" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("sending the request again, once", r.stderr, 1, true)
    local list = installs(s)
    assert.are.equal(1, #list)
    local _, id, install_id = fields(r.stdout)
    assert.are.equal(list[1].id, install_id)
    assert.are_not.equal("install:" .. list[1].id, id)   -- a catalog task, as answered
    assert.are.equal(2, #s.requests("POST", ZONE))
    s.finish()
  end)

  it("with two installs of the package since the step began stops with exit 6, naming both",
    function()
      local s = setup()
      s.kill_in_flight({ "install" }, "POST", ZONE)
      s.call("POST", ZONE, { package_id = "pkg_linear" })
      local list = installs(s)
      assert.are.equal(2, #list)
      local r = s.run({ "install" })
      assert.are.equal(6, r.code, r.stderr)
      assert.matches("in doubt: an operator must decide: keycard.install", r.stderr, 1, true)
      assert.matches("2 candidates", r.stderr, 1, true)
      assert.matches(list[1].id, r.stderr, 1, true)
      assert.matches(list[2].id, r.stderr, 1, true)
      assert.are.equal(2, #s.requests("POST", ZONE))   -- its own and the second one
      s.finish()
    end)
end)

describe("keycard.uninstall in a journaled run", function()
  local function installed(s)
    local t = s.call("POST", ZONE, { package_id = "pkg_linear" })
    return t.install_id
  end

  it("killed while its DELETE was in flight adopts the delete, sending nothing", function()
    local s = setup()
    local id = installed(s)
    s.kill_in_flight({ "uninstall", id }, "DELETE", ZONE .. "/" .. id)
    local r = s.run({ "uninstall", id })
    assert.are.equal(0, r.code, r.stderr)
    local what, task_id, install_id = fields(r.stdout)
    assert.are.equal("uninstall", what)
    assert.are.equal("uninstall:" .. id, task_id)
    assert.are.equal(id, install_id)
    assert.matches("adopted install \"" .. id .. "\" (deleting)", r.stderr, 1, true)
    assert.are.equal(1, #s.requests("DELETE", ZONE .. "/" .. id))
    s.finish()
  end)

  it("whose DELETE left the install active is sent again, once", function()
    local s = setup()
    local id = installed(s)
    s.call("POST", "/_sim/faults", { kind = "server_error", method = "DELETE",
                                          path = ZONE .. "/" .. id })
    local r1 = s.run({ "uninstall", id })
    assert.are.equal(1, r1.code, r1.stderr)
    local r = s.run({ "uninstall", id })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("sending the request again, once", r.stderr, 1, true)
    assert.are.equal(2, #s.requests("DELETE", ZONE .. "/" .. id))
    assert.are.equal("deleting", s.call("GET", ZONE .. "/" .. id).status)
    s.finish()
  end)
end)
