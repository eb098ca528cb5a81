-- taskrun-sim faults: given a fault rule, the runbook sees exactly that failure on exactly the
-- requests the rule targets, and the next request is served normally.
local H = require("harness")
local S = require("simspec")

local run = S.runner([[
local auth = { Authorization = "Bearer sim-redpanda-token" }
local tasks = base .. "/v1/cloud-storage/mount-tasks"
admin("POST", "/_sim/tasks", { provider = "redpanda", id = 7, mode = "poll" })
local function fault(spec) return admin("POST", "/_sim/faults", spec) end
local function state(res) return res.status == 200 and res:json().task.state or res.status end
local function failure(fn, ...)
  local ok, err = pcall(fn, ...)
  return ok and "no error" or (err.kind .. " " .. tostring(err.cause))
end
]])

describe("taskrun-sim faults", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() S.stop(sim) end)

  it("answers the next 2 GETs of one task with 429 and Retry-After in seconds, then serves it", function()
    local out = run(sim, [[
      fault({ kind = "rate_limit", provider = "redpanda", method = "GET",
        path = "/v1/cloud-storage/mount-tasks/7", count = 2, retry_after = 3 })
      emit(http.post(tasks .. "/7", { headers = auth, json = { action = "ACTION_PREPARE" } }).status)
      for _ = 1, 2 do emit(seen(http.get(tasks .. "/7", { headers = auth }))) end
      emit(state(http.get(tasks .. "/7", { headers = auth })))
    ]])
    assert.are.equal(201, out[1])
    for i = 2, 3 do
      assert.are.equal(429, out[i].status)
      assert.are.equal("3", out[i].headers["retry-after"])
      assert.are.equal("RESOURCE_EXHAUSTED", out[i].body.code)
    end
    -- The refused polls were not reads: the task is still where the action put it.
    assert.are.equal("STATE_PREPARING", out[4])
  end)

  it("sends Retry-After as an HTTP-date, in the vendor's envelope", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "keycard", zone = "z", id = "t" })
      fault({ kind = "rate_limit", provider = "keycard", retry_after = 120,
        retry_after_format = "http-date" })
      emit(seen(http.get(base .. "/zones/z/catalog_tasks/t",
        { headers = { Authorization = "Bearer sim-keycard-token" } })))
    ]])
    assert.are.equal(429, out[1].status)
    assert.matches("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$", out[1].headers["retry-after"])
    assert.are.equal("rate_limit_exceeded", out[1].body.code)
  end)

  it("answers a 5xx with an HTML body, as a proxy in front of the API would", function()
    local out = run(sim, [[
      fault({ kind = "server_error", path = "/v1/cloud-storage/*" })
      fault({ kind = "server_error", status = 502, provider = "redpanda" })
      for _ = 1, 2 do
        local res = http.get(tasks .. "/7", { headers = auth })
        emit({ res.status, res.headers["content-type"], res.body:find("<html>", 1, true) ~= nil,
          failure(res.json, res) })
      end
      emit(state(http.get(tasks .. "/7", { headers = auth })))
    ]])
    assert.are.same({ 503, "text/html", true, "decode nil" }, out[1])
    assert.are.same({ 502, "text/html", true, "decode nil" }, out[2])
    assert.are.equal("STATE_PLANNED", out[3])
  end)

  it("truncates a JSON body so it no longer parses; the task still moved on", function()
    local out = run(sim, [[
      fault({ kind = "malformed_json", provider = "redpanda" })
      local res = http.get(tasks .. "/7", { headers = auth })
      emit({ res.status, res.headers["content-type"], failure(res.json, res) })
      emit(state(http.get(tasks .. "/7", { headers = auth })))
    ]])
    assert.are.same({ 200, "application/json", "decode nil" }, out[1])
    assert.are.equal("STATE_PREPARING", out[2])
  end)

  it("drops the connection without a response", function()
    -- Every attempt is dropped: libcurl quietly retries once when a reused connection closes.
    local out = run(sim, [[
      fault({ kind = "drop", provider = "redpanda", count = -1 })
      emit(failure(http.get, tasks .. "/7", { headers = auth }))
      admin("DELETE", "/_sim/faults")
      emit(state(http.get(tasks .. "/7", { headers = auth })))
    ]])
    assert.matches("^transport ", out[1])
    assert.are.equal("STATE_PLANNED", out[2])
  end)

  it("stalls a body half way until the client gives up", function()
    local out = run(sim, [[
      fault({ kind = "stall", provider = "redpanda" })
      emit(failure(http.get, tasks .. "/7", { headers = auth, timeout = "300ms" }))
      emit(http.get(tasks .. "/7", { headers = auth }).status)
    ]])
    assert.are.equal("transport timeout", out[1])
    assert.are.equal(200, out[2])
  end)

  it("answers a good token as expired, with 401 in each vendor's envelope", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "astra", id = "a1" })
      fault({ kind = "expired_token", count = 3 })
      emit(seen(http.get(tasks .. "/7", { headers = auth })))
      emit(seen(http.get(base .. "/accounts/8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e/core/v1/tasks/a1",
        { headers = { Authorization = "Bearer sim-astra-token" } })))
      emit(seen(http.get(base .. "/account/account-sim00001/providers/cloudmanager_cbs/api/v1/job/j",
        { headers = { Authorization = "Bearer sim-bluexp-token",
                      ["x-agent-id"] = "simAgent0001clients" } })))
      emit(http.get(tasks .. "/7", { headers = auth }).status)
    ]])
    assert.are.equal(401, out[1].status)
    assert.are.equal("UNAUTHENTICATED", out[1].body.code)
    assert.matches("expired", out[1].body.message)
    assert.are.equal(401, out[2].status)
    assert.are.equal("https://astra.netapp.io/problems/4", out[2].body.type)
    assert.are.equal("401", out[2].body.status)
    assert.are.equal(401, out[3].status)
    assert.are.equal("Unauthorized", out[3].body.error)
    assert.are.equal(200, out[4])
  end)

  it("adds latency: a client whose timeout is shorter gives up, the next request is served", function()
    local out = run(sim, [[
      fault({ kind = "latency", ms = 5000, provider = "redpanda", count = 1 })
      emit(failure(http.get, tasks .. "/7", { headers = auth, timeout = "300ms" }))
      emit(http.get(tasks .. "/7", { headers = auth }).status)
      emit(http.get(base .. "/_sim/requests", { query = { path = "/v1/cloud-storage/mount-tasks/7" } })
        :json().requests[1].fault)
    ]])
    assert.are.equal("transport timeout", out[1])
    assert.are.equal(200, out[2])
    assert.are.equal("latency", out[3])
  end)

  it("targets by method, path prefix and skip, and lists the rules still active", function()
    local out = run(sim, [[
      fault({ kind = "server_error", method = "POST", path = "/v1/cloud-storage/mount-tasks/*" })
      fault({ kind = "rate_limit", path = "/v1/cloud-storage/mount-tasks/7", skip = 1, count = 1 })
      emit(admin("GET", "/_sim/faults").faults)
      local codes = {}
      for _ = 1, 3 do codes[#codes + 1] = http.get(tasks .. "/7", { headers = auth }).status end
      codes[#codes + 1] = http.post(tasks .. "/7", { headers = auth,
        json = { action = "ACTION_CANCEL" } }).status
      emit(codes)
      emit(admin("GET", "/_sim/faults").faults)
      fault({ kind = "drop", count = -1 })
      admin("DELETE", "/_sim/faults")
      emit(http.get(tasks .. "/7", { headers = auth }).status)
    ]])
    assert.are.equal(2, #out[1])
    assert.are.equal("server_error", out[1][1].kind)
    assert.are.equal("POST", out[1][1].method)
    assert.are.same({ 200, 429, 200, 503 }, out[2])
    assert.are.same({}, out[3])
    assert.are.equal(200, out[4])
  end)

  it("refuses a malformed fault rule with 400", function()
    local out = run(sim, [[
      for _, f in ipairs({ { kind = "gremlins" }, { kind = "latency", ms = "slow" },
                           { kind = "rate_limit", retry_after_format = "fortnights" },
                           { kind = "drop", probability = 2 } }) do
        emit(http.post(base .. "/_sim/faults", { json = f }).status)
      end
    ]])
    assert.are.same({ 400, 400, 400, 400 }, { out[1], out[2], out[3], out[4] })
  end)
end)
