-- taskrun.astra against the simulator.
local H = require("harness")

local function ok(script)
  local r = H.run_sim("local astra = taskrun.astra\n" .. script)
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout, r
end

describe("taskrun.astra", function()
  it("maps every state, with percentDone as progress and stateDetails as the message", function()
    local out = ok([[
      local t = sim.task({ provider = "astra", name = "astra.backup", mode = "poll", steps = {
        "notStarted", { state = "running", percentDone = 20.5 }, "pausing", "paused",
        "cancelling", "cancelled", "completed",
        { state = "failed", stateDetails = { { type = "x", title = "Backup failed",
          detail = "bucket unreachable" } } } } })
      for _ = 1, 8 do
        local task = astra.task(t.id)
        io.write(task.status, task.done and "!" or "", " ")
        if task.progress then io.write("(", task.progress, ") ") end
        if task.message then io.write("[", task.message, "] ") end
      end
      print()
      local req = sim.requests("/core/v1/tasks/" .. t.id)[1]
      print(req.path == "/accounts/8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e/core/v1/tasks/" .. t.id)
    ]])
    assert.are.equal("pending running (20.5) running paused running cancelled! succeeded! (100) "
      .. "failed! [Backup failed: bucket unreachable] \ntrue\n", out)
  end)

  it("turns include's positional arrays back into fields", function()
    local out = ok([[
      local t = sim.task({ provider = "astra", name = "astra.backup",
        steps = { { state = "running", percentDone = 40 } } })
      local list = astra.tasks({ include = { "id", "state", "percentDone" } })
      print(#list, list[1].id == t.id, list[1].state, list[1].progress, list[1].status)
      print(sim.requests("/core/v1/tasks")[1].query:lower())
    ]])
    assert.are.equal("1\ttrue\trunning\t40\trunning\ninclude=id%2cstate%2cpercentdone\n", out)
  end)

  it("URL-encodes filter with %20 and follows metadata.continue to the end", function()
    local out = ok([[
      for i = 1, 5 do sim.task({ provider = "astra", name = "astra.backup", steps = { "running" } }) end
      sim.task({ provider = "astra", name = "astra.backup", steps = { "completed" } })
      local list = astra.tasks({ filter = { state = "running" }, limit = 2 })
      print(#list)
      local reqs = sim.requests("/core/v1/tasks")
      print(#reqs, reqs[1].query)
      print(reqs[2].query:find("continue=", 1, true) ~= nil)
      print(#astra.tasks({ filter = "state eq 'completed'" }))
      print(select(2, pcall(astra.tasks, { filter = { name = "it's" } })).kind)
    ]])
    assert.are.equal("5\n3\tfilter=state%20eq%20%27running%27&limit=2\ntrue\n1\nusage\n", out)
  end)

  it("starts a backup and returns its astra.backup task", function()
    local out = ok([[
      local t = astra.backup("app-1", { name = "nightly" })
      print(t.provider, t.raw.name, t.raw.parentTaskID == nil)
      print(sim.requests("/appBackups")[1].method)
    ]])
    assert.are.equal("astra\tastra.backup\ttrue\nPOST\n", out)
  end)

  it("raises auth and not_found with the problem's title and detail", function()
    local out = ok([[
      local c = astra.client({ token = "bad-token-xyz" })
      local _, e1 = pcall(c.task, c, "x")
      print(e1.kind, e1.status, e1.message:find("Invalid bearer token", 1, true) ~= nil)
      local _, e2 = pcall(astra.task, "00000000-0000-4000-8000-000000000000")
      print(e2.kind, e2.status, e2.message:find("Resource not found", 1, true) ~= nil)
      sim.fault({ provider = "astra", kind = "rate_limit", status = 403 })
      print(select(2, pcall(astra.tasks)).kind)
      sim.fault({ provider = "astra", kind = "server_error", status = 500 })
      print(select(2, pcall(astra.tasks)).status)
    ]])
    assert.are.equal("auth\t401\ttrue\nnot_found\t404\ttrue\nauth\n500\n", out)
  end)

  it("raises usage naming ASTRA_ACCOUNT_ID when it is missing", function()
    local r = H.run({ script = "taskrun.astra.task('x')",
      env = { ASTRA_URL = "http://127.0.0.1:1", ASTRA_ACCOUNT_ID = false } })
    assert.are.equal(2, r.code)
    assert.matches("ASTRA_ACCOUNT_ID is not set", r.stderr, 1, true)
  end)
end)
