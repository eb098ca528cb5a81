-- taskrun-sim admin API and generic endpoints: the request log, settings, task creation, reset,
-- time-based progress, and the /_sim/ helpers the runtime's own HTTP specs lean on.
local H = require("harness")
local S = require("simspec")

local run = S.runner([[
local auth = { Authorization = "Bearer sim-redpanda-token" }
local tasks = base .. "/v1/cloud-storage/mount-tasks"
]])

describe("taskrun-sim admin API", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() S.stop(sim) end)

  it("logs what the client sent, with the token redacted and never stored", function()
    local out = run(sim, [[
      http.get(tasks .. "/7", { headers = { Authorization = auth.Authorization, ["X-Trace"] = "t1" },
        query = { verbose = "yes" } })
      http.post(base .. "/v1/cloud-storage/topics/unmount", { headers = auth, json = { "a" } })
      http.get(base .. "/_sim/echo")
      local res = http.get(base .. "/_sim/requests")
      emit(res:json().requests)
      emit(res.body:find("sim-redpanda-token", 1, true) == nil)
      emit(#http.get(base .. "/_sim/requests", { query = { provider = "redpanda", method = "POST" } })
        :json().requests)
      admin("DELETE", "/_sim/requests")
      emit(#http.get(base .. "/_sim/requests"):json().requests)
    ]])
    local log = out[1]
    assert.are.equal(3, #log)
    local first = log[1]
    assert.are.equal("GET", first.method)
    assert.are.equal("/v1/cloud-storage/mount-tasks/7", first.path)
    assert.are.equal("verbose=yes", first.query)
    assert.are.equal("redpanda", first.provider)
    assert.are.equal(404, first.status)
    assert.are.equal("Bearer [redacted]", first.headers.authorization)
    assert.are.equal("t1", first.headers["x-trace"])
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", first.time)
    assert.are.equal("", first.body)
    assert.are.equal("POST", log[2].method)
    assert.are.equal('["a"]', log[2].body)
    assert.are.equal(5, log[2].body_bytes)
    assert.are.equal("/_sim/echo", log[3].path)
    assert.is_true(out[2])
    assert.are.equal(1, out[3])
    assert.are.equal(0, out[4])
  end)

  it("creates and lists tasks, and refuses bad task specs with 400", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { { provider = "redpanda", id = 5 },
        { provider = "astra", mode = "poll", steps = { "running", { state = "failed",
          stateDetails = { { type = "x", title = "t", detail = "d" } } } } } })
      emit(admin("GET", "/_sim/tasks").tasks)
      for _, spec in ipairs({ { provider = "gcp" }, { provider = "redpanda", steps = {} },
                              { provider = "redpanda", steps = { 3 } }, { provider = "keycard" },
                              { provider = "redpanda", mode = "sometimes" } }) do
        emit(http.post(base .. "/_sim/tasks", { json = spec }).status)
      end
      emit(http.post(base .. "/_sim/tasks", { body = "{" }).status)
      admin("DELETE", "/_sim/tasks")
      emit(#admin("GET", "/_sim/tasks").tasks)
    ]])
    assert.are.equal(2, #out[1])
    assert.are.equal("redpanda", out[1][1].provider)
    assert.are.equal("5", out[1][1].id)
    assert.are.equal("time", out[1][1].mode)
    assert.are.equal("poll", out[1][2].mode)
    for i = 2, 7 do assert.are.equal(400, out[i]) end
    assert.are.equal(0, out[8])
  end)

  it("changes settings at run time, tokens included, and never shows a token", function()
    local out = run(sim, [[
      local cfg = admin("POST", "/_sim/config", { tokens = { redpanda = "rotated" }, speed = 4 })
      emit(cfg)
      emit(http.get(tasks, { headers = auth }).status)
      emit(http.get(tasks, { headers = { Authorization = "Bearer rotated" } }).status)
      emit(http.post(base .. "/_sim/config", { json = { redpanda_body = "naked" } }).status)
      admin("POST", "/_sim/reset")
      emit(http.get(tasks, { headers = auth }).status)
      emit(admin("GET", "/_sim/config"))
    ]])
    assert.are.equal(4, out[1].speed)
    assert.is_nil(out[1].tokens)
    assert.are.equal("8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e", out[1].astra_account)
    assert.are.equal("account-sim00001", out[1].bluexp_account)
    assert.are.equal("simAgent0001clients", out[1].bluexp_agent)
    assert.are.equal(401, out[2])
    assert.are.equal(200, out[3])
    assert.are.equal(400, out[4])
    assert.are.equal(200, out[5])
    assert.are.equal(1, out[6].speed)
    assert.are.equal("time", out[6].mode)
  end)

  it("moves a time-based task on by itself until it is gone", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "redpanda", id = 9, step_ms = 30 })
      local seen_states, deadline = {}, taskrun.now() + 10
      while taskrun.now() < deadline do
        local res = http.get(tasks .. "/9", { headers = auth })
        local s = res.status == 200 and res:json().task.state or res.status
        if seen_states[#seen_states] ~= s then seen_states[#seen_states + 1] = s end
        if s == 404 then break end
        taskrun.sleep(0.01)
      end
      emit(seen_states)
    ]])
    local order = { STATE_PLANNED = 1, STATE_PREPARING = 2, STATE_PREPARED = 3, STATE_EXECUTING = 4,
      STATE_EXECUTED = 5, STATE_CUT_OVER = 6 }
    local states = out[1]
    assert.are.equal(404, states[#states])
    for i = 2, #states - 1 do assert.is_true(order[states[i]] > order[states[i - 1]]) end
  end)

  it("answers 404 for an unknown path and 405 for a wrong method on admin paths", function()
    local out = run(sim, [[
      emit(seen(http.get(base .. "/nowhere")))
      emit(seen(http.get(base .. "/_sim/nothing")))
      emit(seen(http.request({ method = "PATCH", url = base .. "/_sim/tasks", body = "" })))
      emit(seen(http.get(base .. "/_sim/reset")))
    ]])
    assert.are.equal(404, out[1].status)
    assert.are.equal("string", type(out[1].body.error))
    assert.are.equal(404, out[2].status)
    assert.are.equal(405, out[3].status)
    assert.are.equal("GET, POST, DELETE", out[3].headers.allow)
    assert.are.equal(405, out[4].status)
  end)
end)

describe("taskrun-sim generic endpoints", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() S.stop(sim) end)

  it("echoes the request, answers any status, sizes bodies and redirects", function()
    local out = run(sim, [[
      emit(http.request({ method = "PUT", url = base .. "/_sim/echo/a/b?x=1&y=two",
        headers = { ["X-One"] = "1" }, body = "payload" }):json())
      emit(seen(http.get(base .. "/_sim/status", { query = { code = 418,
        header = { "X-A: 1", "Content-Type: text/x-tea" }, body = "short and stout" } })))
      emit(#http.get(base .. "/_sim/bytes", { query = { n = 70000 } }).body)
      emit(seen(http.get(base .. "/_sim/redirect", { query = { to = "/_sim/echo", code = 307 } })))
      emit(seen(http.get(base .. "/_sim/status", { query = { code = 1000 } })))
    ]])
    assert.are.equal("PUT", out[1].method)
    assert.are.equal("/_sim/echo/a/b", out[1].path)
    assert.are.equal("x=1&y=two", out[1].query)
    assert.are.equal("1", out[1].headers["x-one"])
    assert.are.equal("payload", out[1].body)
    assert.are.equal(418, out[2].status)
    assert.are.equal("1", out[2].headers["x-a"])
    assert.are.equal("text/x-tea", out[2].headers["content-type"])
    assert.are.equal("short and stout", out[2].body)
    assert.are.equal(70000, out[3])
    assert.are.equal(307, out[4].status)
    assert.are.equal("/_sim/echo", out[4].headers.location)
    assert.are.equal(400, out[5].status)
  end)

  it("holds delayed requests without a worker each, and counts them in flight", function()
    -- taskrun sends at most TASKRUN_MAX_INFLIGHT requests to one host at once: 200 here.
    local out = run(sim, [[
      http.post(base .. "/_sim/stats/reset")
      local hs = {}
      for i = 1, 200 do
        hs[i] = taskrun.spawn(http.get, base .. "/_sim/delay", { query = { ms = 500 } })
      end
      local peak = 0
      for i = 1, 200 do peak = math.max(peak, hs[i]:join():json().inflight) end
      local stats = http.get(base .. "/_sim/stats"):json()
      emit({ peak >= 100, stats.max_inflight >= 100, stats.requests >= 200 })
    ]], { TASKRUN_MAX_INFLIGHT = "200" })
    assert.are.same({ true, true, true }, out[1])
  end)

  it("counts connections accepted apart from requests, and a reset keeps open ones open", function()
    -- curl opens a connection per call: each stats call is one more accepted.
    sim.call("POST", "/_sim/stats/reset")
    local first = sim.call("GET", "/_sim/stats")
    local second = sim.call("GET", "/_sim/stats")
    assert.are.same({ 1, 1 }, { first.connections, first.requests })
    assert.are.same({ 2, 2 }, { second.connections, second.requests })
    assert.is_true(second.open_connections >= 1 and second.max_open_connections >= 1)
    -- A kept-alive connection carries many requests, and is not accepted again after a reset.
    local out = run(sim, [[
      http.post(base .. "/_sim/stats/reset")
      for _ = 1, 5 do http.get(base .. "/_sim/echo") end
      emit(http.get(base .. "/_sim/stats"):json())
    ]])
    assert.are.equal(6, out[1].requests)
    assert.are.equal(0, out[1].connections)
    assert.is_true(out[1].max_open_connections >= 1)
  end)
end)
