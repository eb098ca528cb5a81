-- taskrun.bluexp against the simulator.
local H = require("harness")

local function ok(script)
  local r = H.run_sim("local bluexp = taskrun.bluexp\n" .. script)
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout, r
end

local body = [[{ restore = { type = "volume", source = { bucket = "b" }, target = { svm = "s" } } }]]

describe("taskrun.bluexp", function()
  it("starts a restore (v1, v2, v3), answering 202 job-id, and returns the job's Task", function()
    local out = ok([[
      for _, v in ipairs({ 1, 2, 3 }) do
        local t = bluexp.start_restore(]] .. body .. [[, { version = v })
        io.write(t.provider, " ", t.state, " ", sim.requests("/v" .. v .. "/restore")[1].method, " ")
      end
      print()
      print(select(2, pcall(bluexp.start_restore, {}, { version = 4 })).kind)
    ]])
    assert.are.equal("bluexp PENDING POST bluexp PENDING POST bluexp PENDING POST \nusage\n", out)
  end)

  it("maps every status, takes error as the message and keeps time an integer", function()
    local out = ok([[
      local t = sim.task({ provider = "bluexp", mode = "poll", steps = { "PENDING", "IN_PROGRESS",
        "SUCCESS", "COMPLETED", { state = "FAILED", error = "volume is offline" } } })
      for _ = 1, 5 do
        local job = bluexp.job(t.id)
        io.write(job.status, job.done and "!" or "", " ")
        if job.message then io.write("[", job.message, "] ") end
      end
      print(math.type(bluexp.job(t.id).raw.time))
    ]])
    assert.are.equal("pending running succeeded! succeeded! failed! [volume is offline] integer\n", out)
  end)

  it("accepts job as an array or as a single object", function()
    local out = ok([[
      local a = sim.task({ provider = "bluexp", shape = "array", steps = { "IN_PROGRESS" } })
      local o = sim.task({ provider = "bluexp", shape = "object", steps = { "IN_PROGRESS" } })
      print(bluexp.job(a.id).state, bluexp.job(o.id).state, bluexp.job(o.id).id == o.id)
    ]])
    assert.are.equal("IN_PROGRESS\tIN_PROGRESS\ttrue\n", out)
  end)

  it("lists restore jobs and picks one by id from the list", function()
    local out = ok([[
      local a = sim.task({ provider = "bluexp", type = "restore-volume", steps = { "PENDING" } })
      local b = sim.task({ provider = "bluexp", type = "restore-file", steps = { "COMPLETED" } })
      print(#bluexp.restore_jobs())
      local job = bluexp.restore_job(b.id)
      print(job.id == b.id, job.state)
      print(#sim.requests("/job/"), #sim.requests("/restore/status"))
      print(select(2, pcall(bluexp.restore_job, "missing-job")).kind)
    ]])
    assert.are.equal("2\ntrue\tCOMPLETED\n0\t2\nnot_found\n", out)
  end)

  it("appends the clients suffix to x-agent-id once", function()
    local out = ok([[
      local plain = bluexp.client({ agent_id = "simAgent0001" })
      plain:restore_jobs()
      bluexp.restore_jobs()
      local reqs = sim.requests("/restore/status")
      print(reqs[1].headers["x-agent-id"], reqs[2].headers["x-agent-id"])
    ]])
    assert.are.equal("simAgent0001clients\tsimAgent0001clients\n", out)
  end)

  it("raises auth, not_found and http in BlueXP's {error, message} words", function()
    local out = ok([[
      local c = bluexp.client({ token = "bad-token-xyz" })
      local _, e1 = pcall(c.restore_jobs, c)
      print(e1.kind, e1.status, e1.message:find("Unauthorized", 1, true) ~= nil)
      local _, e2 = pcall(bluexp.job, "no-such-job")
      print(e2.kind, e2.status)
      sim.fault({ provider = "bluexp", kind = "rate_limit", status = 403 })
      print(select(2, pcall(bluexp.restore_jobs)).kind)
      sim.fault({ provider = "bluexp", kind = "server_error", status = 503 })
      print(select(2, pcall(bluexp.restore_jobs)).status)
    ]])
    assert.are.equal("auth\t401\ttrue\nnot_found\t404\nauth\n503\n", out)
  end)
end)
