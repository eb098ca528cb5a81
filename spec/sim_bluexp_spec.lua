-- taskrun-sim, NetApp BlueXP backup and recovery: restores and jobs as the vendor documents them,
-- driven from a runbook with taskrun.http. Jobs advance one state per poll.
local H = require("harness")
local S = require("simspec")

local run = S.runner([[
local auth = { Authorization = "Bearer sim-bluexp-token", ["x-agent-id"] = "simAgent0001clients" }
local api = base .. "/account/account-sim00001/providers/cloudmanager_cbs/api"
local restore = { restore = { type = "volume",
  source = { ["working-environment-id"] = "we-src", ["volume-name"] = "vol1", snapshot = "daily.0" },
  target = { ["working-environment-id"] = "we-dst", svm = "svm1", ["volume-name"] = "vol1_r" } } }
]])

describe("taskrun-sim BlueXP", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() S.stop(sim) end)

  it("starts restores on v1, v2 and v3 with 202 {job-id}, and the job runs to COMPLETED", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      for _, v in ipairs({ "v1", "v2", "v3" }) do
        emit(seen(http.post(api .. "/" .. v .. "/restore", { headers = auth, json = restore })))
      end
      local id = http.post(api .. "/v2/restore", { headers = auth, json = restore }):json()["job-id"]
      for _ = 1, 4 do emit(seen(http.get(api .. "/v1/job/" .. id, { headers = auth }))) end
    ]])
    for i = 1, 3 do
      assert.are.equal(202, out[i].status)
      assert.are.equal("string", type(out[i].body["job-id"]))
    end
    local states = {}
    for i = 4, 7 do
      assert.are.equal(200, out[i].status)
      local jobs = out[i].body.job
      assert.are.equal(1, #jobs)
      local job = jobs[1]
      states[#states + 1] = job.status
      assert.are.equal("we-dst", job["working-environment-id"])
      assert.are.equal("", job.error)
      assert.is_true(job.time > 1e12 and job.time == math.floor(job.time))
      assert.are.equal("vol1", job.data.restore.source["volume-name"])
    end
    assert.are.same({ "PENDING", "IN_PROGRESS", "COMPLETED", "COMPLETED" }, states)
  end)

  it("answers job as a single object when the job or the settings select it", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "bluexp", id = "job-obj", shape = "object" })
      emit(http.get(api .. "/v1/job/job-obj", { headers = auth }):json())
      admin("POST", "/_sim/config", { bluexp_job = "object" })
      local id = http.post(api .. "/v1/restore", { headers = auth, json = restore }):json()["job-id"]
      emit(http.get(api .. "/v1/job/" .. id, { headers = auth }):json())
    ]])
    assert.are.equal("job-obj", out[1].job.id)
    assert.are.equal("PENDING", out[1].job.status)
    assert.are.equal("string", type(out[2].job.id))
  end)

  it("lists restores in restore/status, where a runbook matches its job-id", function()
    local out = run(sim, [[
      local a = http.post(api .. "/v1/restore", { headers = auth, json = restore }):json()["job-id"]
      local b = http.post(api .. "/v3/restore", { headers = auth, json = restore }):json()["job-id"]
      emit({ a, b })
      emit(seen(http.get(api .. "/v1/restore/status", { headers = auth })))
      emit(http.get(api .. "/v1/job", { headers = auth, query = { status = "PENDING" } }):json())
    ]])
    local ids = {}
    for _, job in ipairs(out[2].body.job) do ids[#ids + 1] = job.id end
    assert.are.equal(200, out[2].status)
    assert.are.same(out[1], ids)
    assert.are.equal(2, #out[3].job)
  end)

  it("reports a failed job with status FAILED and the error text", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "bluexp", id = "j-fail", mode = "poll",
        steps = { "IN_PROGRESS", { state = "FAILED", error = "snapshot daily.0 not found" } } })
      for _ = 1, 2 do emit(http.get(api .. "/v1/job/j-fail", { headers = auth }):json().job[1]) end
    ]])
    assert.are.equal("IN_PROGRESS", out[1].status)
    assert.are.equal("FAILED", out[2].status)
    assert.are.equal("snapshot daily.0 not found", out[2].error)
  end)

  it("requires x-agent-id, with the clients suffix", function()
    local out = run(sim, [[
      local tok = { Authorization = auth.Authorization }
      emit(seen(http.get(api .. "/v1/restore/status", { headers = tok })))
      emit(seen(http.get(api .. "/v1/restore/status", { headers = { Authorization = auth.Authorization,
        ["x-agent-id"] = "simAgent0001" } })))
    ]])
    assert.are.equal(400, out[1].status)
    assert.are.equal("BadRequest", out[1].body.error)
    assert.matches("x%-agent%-id", out[1].body.message)
    assert.are.equal(403, out[2].status)
    assert.are.equal("Forbidden", out[2].body.error)
  end)

  it("answers 401 in the {error, message} envelope", function()
    local out = run(sim, [[
      emit(seen(http.get(api .. "/v1/job/x", { headers = { ["x-agent-id"] = "simAgent0001clients" } })))
      emit(seen(http.get(api .. "/v1/job/x", { headers = { Authorization = "Bearer no",
        ["x-agent-id"] = "simAgent0001clients" } })))
    ]])
    for _, o in ipairs(out) do
      assert.are.equal(401, o.status)
      assert.are.equal("Unauthorized", o.body.error)
      assert.are.equal("string", type(o.body.message))
    end
  end)

  it("answers 404, 405, 403 and 400 in the {error, message} envelope", function()
    local out = run(sim, [[
      emit(seen(http.get(api .. "/v1/job/none", { headers = auth })))
      emit(seen(http.get(api .. "/v9/whatever", { headers = auth })))
      emit(seen(http.get(api .. "/v2/restore", { headers = auth })))
      emit(seen(http.get(base .. "/account/account-other/providers/cloudmanager_cbs/api/v1/job/x",
        { headers = auth })))
      local files = {}
      for i = 1, 9 do files[i] = { path = "/f" .. i, type = "file" } end
      local many = { restore = { type = "file", source = {}, target = {}, file = files } }
      local folder = { restore = { type = "folder", source = {}, target = {} } }
      for _, b in ipairs({ "{oops", json.encode({ restore = { type = "volume" } }),
                           json.encode(many), json.encode(folder) }) do
        emit(seen(http.post(api .. (b:find("folder") and "/v2" or "/v1") .. "/restore",
          { headers = auth, body = b })))
      end
      emit(http.post(api .. "/v2/restore", { headers = auth, json = many }).status)
      emit(http.post(api .. "/v3/restore", { headers = auth, json = folder }).status)
    ]])
    assert.are.equal(404, out[1].status)
    assert.are.equal("NotFound", out[1].body.error)
    assert.are.equal(404, out[2].status)
    assert.are.equal(405, out[3].status)
    assert.are.equal("MethodNotAllowed", out[3].body.error)
    assert.are.equal("POST", out[3].headers.allow)
    assert.are.equal(403, out[4].status)
    for i = 5, 8 do
      assert.are.equal(400, out[i].status)
      assert.are.equal("BadRequest", out[i].body.error)
    end
    assert.are.equal(202, out[9])
    assert.are.equal(202, out[10])
  end)
end)
