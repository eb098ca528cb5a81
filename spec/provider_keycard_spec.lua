-- taskrun.keycard against the simulator.
local H = require("harness")

local function ok(script)
  local r = H.run_sim("local keycard = taskrun.keycard\n" .. script)
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout, r
end

describe("taskrun.keycard", function()
  it("maps pending, running and failed, taking error_message as the message", function()
    local out = ok([[
      local t = sim.task({ provider = "keycard", zone = "z1", mode = "poll", steps = {
        "pending", "running", { state = "failed", error_message = "package linear: bad input" } } })
      for _ = 1, 3 do
        local task = keycard.catalog_task("z1", t.id)
        print(task.provider, task.id == t.id, task.state, task.status, task.done, task.message)
      end
    ]])
    assert.are.equal("keycard\ttrue\tpending\tpending\tfalse\tnil\n"
      .. "keycard\ttrue\trunning\trunning\tfalse\tnil\n"
      .. "keycard\ttrue\tfailed\tfailed\ttrue\tpackage linear: bad input\n", out)
  end)

  it("reads the 303 of a completed task as success and never follows it", function()
    local out = ok([[
      local t = sim.task({ provider = "keycard", zone = "z1", mode = "poll", steps = { "completed" } })
      local task = keycard.catalog_task("z1", t.id)
      print(task.state, task.status, task.ok, task.install_id ~= nil)
      print(task.install_url == sim.url .. "/zones/z1/installs/" .. task.install_id)
      print(#sim.requests("/installs/"), #sim.requests("/catalog_tasks/"))
    ]])
    assert.are.equal("completed\tsucceeded\ttrue\ttrue\ntrue\n0\t1\n", out)
  end)

  it("installs and uninstalls, returning their Tasks", function()
    local out = ok([[
      local t = keycard.install("z2", { package_id = "pkg_linear", inputs = { team = "ops" }, version = 3 })
      print(t.provider, t.state, t.raw.operation, t.raw.package_id)
      local post = sim.requests("/zones/z2/installs")[1]
      print(post.method, post.body)
      local u = keycard.uninstall("z2", t.install_id)
      print(u.raw.operation, sim.requests("/installs/" .. t.install_id)[1].method)
      print(select(2, pcall(keycard.install, "z2", {})).kind)
    ]])
    assert.are.equal("keycard\tpending\tcreate\tpkg_linear\n"
      .. 'POST\t{"inputs":{"team":"ops"},"package_id":"pkg_linear","version":3}\n'
      .. "delete\tDELETE\nusage\n", out)
  end)

  it("sends a fresh X-Client-Request-ID UUID with every request", function()
    local out = ok([[
      local t = keycard.install("z3", { package_id = "p" })
      keycard.catalog_task("z3", t.id)
      local a, b = sim.requests("/zones/z3/")[1], sim.requests("/zones/z3/")[2]
      local pat = "^" .. ("%x"):rep(8) .. "%-" .. ("%x"):rep(4) .. "%-4" .. ("%x"):rep(3)
        .. "%-[89ab]" .. ("%x"):rep(3) .. "%-" .. ("%x"):rep(12) .. "$"
      local ida, idb = a.headers["x-client-request-id"], b.headers["x-client-request-id"]
      print(ida:match(pat) ~= nil, idb:match(pat) ~= nil, ida ~= idb)
      -- Many more than one draw of random bytes makes (16 UUIDs): every one well formed, and
      -- none twice.
      local seen, bad, dup = {}, 0, 0
      for _ = 1, 1000 do
        local u = taskrun.uuid()
        if not u:match(pat) then bad = bad + 1 end
        if seen[u] then dup = dup + 1 end
        seen[u] = true
      end
      print(bad, dup)
    ]])
    assert.are.equal("true\ttrue\ttrue\n0\t0\n", out)
  end)

  it("raises auth and not_found in Keycard's envelope", function()
    local out = ok([[
      local _, e1 = pcall(keycard.client({ token = "bad-token-xyz" }).catalog_task,
        keycard.client({ token = "bad-token-xyz" }), "z1", "x")
      print(e1.kind, e1.status, e1.message:find("unauthorized", 1, true) ~= nil)
      local _, e2 = pcall(keycard.catalog_task, "z1", "nosuchtask")
      print(e2.kind, e2.status, e2.message:find("not_found", 1, true) ~= nil)
      sim.fault({ provider = "keycard", kind = "rate_limit", status = 403 })
      print(select(2, pcall(keycard.catalog_task, "z1", "x")).kind)
      sim.fault({ provider = "keycard", kind = "server_error", status = 502 })
      local _, e3 = pcall(keycard.catalog_task, "z1", "x")
      print(e3.kind, e3.status)
    ]])
    assert.are.equal("auth\t401\ttrue\nnot_found\t404\ttrue\nauth\nhttp\t502\n", out)
  end)
end)
