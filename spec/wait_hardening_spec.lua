-- taskrun.wait against a server that stalls or asks for too much, and the errors a wait raises:
-- given this, the runbook sees that. No spec here measures time: a run that overstays fails by
-- the run's own --timeout (exit 4 and its message), not by a clock in the spec.
local H = require("harness")

local run, ok = H.sim_runners(H.WAIT_PRELUDE)

local job = [[sim.task({ provider = "bluexp", mode = "poll", steps = %s })]]

describe("a wait's deadline", function()
  -- The stall holds the answer for 120 s; libcurl's own timeout is 60 s. Only the wait's
  -- deadline ends the poll before the run's --timeout (20 s) would.
  it("caps a poll in flight: a server stalled after the headers is a timeout", function()
    local out = ok(string.format([[
      local j = %s
      local first = bluexp.job(j.id)
      sim.fault({ provider = "bluexp", path = JOBS, kind = "stall", count = -1 })
      local okw, e = pcall(taskrun.wait, first, with({ timeout = "1s" }))
      print(okw, e.kind, e.provider, e.task_id == j.id)
      print(e.message:match("^timed out after [%%d.]+s waiting on bluexp task") ~= nil)
      -- The cap ends with the wait: the same task sends uncapped requests again.
      sim.clear_faults()
      print(http.get(sim.url .. "/_sim/delay?ms=50").status)
    ]], job:format('{ "PENDING" }')), { flags = { "--timeout", "20s" } })
    assert.are.equal("false\ttimeout\tbluexp\ttrue\ntrue\n200\n", out)
  end)

  it("caps the requests of a custom fetch function made with taskrun.http", function()
    local out = ok([[
      local t = bluexp.job(]] .. job:format('{ "PENDING" }') .. [[.id)
      local okw, e = pcall(taskrun.wait, function()
        http.get(sim.url .. "/_sim/stall")
        return t
      end, { timeout = "1s", name = "stalled fetch" })
      print(okw, e.kind, e.message:match("waiting on stalled fetch") ~= nil)
    ]], { flags = { "--timeout", "20s" } })
    assert.are.equal("false\ttimeout\ttrue\n", out)
  end)

  it("sends no request once no time is left, and the wait ends with its timeout", function()
    local out = ok([[
      local t = bluexp.job(]] .. job:format('{ "PENDING" }') .. [[.id)
      local okw, e = pcall(taskrun.wait, function()
        taskrun.sleep(0.3)   -- past the 0.1 s deadline
        return bluexp.job(t.id)
      end, { timeout = "100ms" })
      print(okw, e.kind, #sim.requests("/job/"))
    ]], { flags = { "--timeout", "20s" } })
    assert.are.equal("false\ttimeout\t1\n", out)
  end)

  it("keeps one last poll early enough to be answered before the deadline", function()
    -- interval 1h: after the first poll, the next delay is far past the 0.5 s deadline.
    local out = ok(string.format([[
      local j = %s
      local t = taskrun.wait(bluexp.job(j.id), { timeout = "0.5s", interval = "1h",
        max_interval = "1h" })
      print(t.state, #sim.requests("/job/"))
    ]], job:format('{ "PENDING", "PENDING", "COMPLETED" }')), { flags = { "--timeout", "20s" } })
    assert.are.equal("COMPLETED\t3\n", out)
  end)
end)

describe("Retry-After", function()
  it("is clamped to max_retry_after before it is compared with the deadline", function()
    local out = ok(string.format([[
      local j = %s
      local first = bluexp.job(j.id)
      sim.fault({ provider = "bluexp", path = JOBS, kind = "rate_limit", count = 1,
                  retry_after = 7200 })
      local t = taskrun.wait(first, with({ timeout = "30s", max_retry_after = "0.1s" }))
      print(t.state, #sim.requests("/job/"))
    ]], job:format('{ "PENDING", "COMPLETED" }')), { flags = { "--timeout", "20s" } })
    assert.are.equal("COMPLETED\t3\n", out)
  end)
end)

describe("errors a wait raises", function()
  it("carry provider, task, task_id and status when the task failed or was cancelled", function()
    local out = ok(string.format([[
      local j = %s
      local _, e = pcall(taskrun.wait, bluexp.job(j.id), fast)
      print(e.kind, e.provider, e.task_id == j.id, e.task.id == j.id, e.status)
      sim.task({ provider = "redpanda", id = 5, steps = { "STATE_CANCELLED" } })
      _, e = pcall(taskrun.wait, redpanda.mount_task(5), fast)
      print(e.kind, e.provider, e.task_id, math.type(e.task_id), e.task.state, e.status)
    ]], job:format('{ "PENDING", { state = "FAILED", error = "no space" } }')))
    assert.are.equal("failed\tbluexp\ttrue\ttrue\t200\n"
      .. "cancelled\tredpanda\t5\tinteger\tSTATE_CANCELLED\t200\n", out)
  end)

  it("carry them too for a timeout, a 404 and a vendor error ending the wait", function()
    local out = ok(string.format([[
      local j = %s
      local first = bluexp.job(j.id)
      local _, e = pcall(taskrun.wait, first, with({ timeout = "0.2s" }))
      print(e.kind, e.provider, e.task_id == j.id, e.task.id == j.id)
      sim.fault({ provider = "bluexp", path = JOBS, kind = "rate_limit", status = 400 })
      _, e = pcall(taskrun.wait, first, fast)
      print(e.kind, e.provider, e.task_id == j.id, e.task.id == j.id, e.status)
      sim.fault({ provider = "bluexp", path = JOBS, kind = "rate_limit", status = 404 })
      _, e = pcall(taskrun.wait, first, fast)
      print(e.kind, e.provider, e.task_id == j.id, e.task.id == j.id, e.status)
    ]], job:format('{ "PENDING" }')))
    assert.are.equal("timeout\tbluexp\ttrue\ttrue\nhttp\tbluexp\ttrue\ttrue\t400\n"
      .. "not_found\tbluexp\ttrue\ttrue\t404\n", out)
  end)

  it("quote a vendor's huge state and message in a bounded length", function()
    local out = ok(string.format([[
      local j = %s
      local _, e = pcall(taskrun.wait, bluexp.job(j.id), fast)
      print(e.kind, #e.message < 2000)
    ]], job:format('{ { state = string.rep("S", 200000) }, '
      .. '{ state = "FAILED", error = string.rep("e", 200000) } }')))
    assert.are.equal("failed\ttrue\n", out)
  end)
end)

describe("the advice of a refused option", function()
  it("gives options that work: max_interval alone under the default interval", function()
    local out = ok([[
      local done = bluexp.job(]] .. job:format('{ "COMPLETED" }') .. [[.id)
      local _, e = pcall(taskrun.wait, done, { max_interval = "1s" })
      local advice = e.message:match("e%.g%. (.*)$")
      print(e.kind, advice)
      print(taskrun.wait(done, assert(load("return { " .. advice .. " }"))()).state)
    ]])
    assert.are.equal("usage\tinterval = 1, max_interval = 1\nCOMPLETED\n", out)
  end)
end)

describe("wait_any and wait_all", function()
  it("raise a string error with its location once", function()
    local out = ok([[
      -- Not a tail call: the caller's frame is there for a location to be taken from.
      local function boom() error("boom") end
      local function any() local t = taskrun.wait_any({ boom }, fast) return t end
      local function all() local t = taskrun.wait_all({ boom }, fast) return t end
      local _, e1 = pcall(any)
      local _, e2 = pcall(all)
      for _, e in ipairs({ e1, e2 }) do
        local _, n = e:gsub("%.lua:%d+:", "")
        print(n, e:match("boom$"))
      end
    ]])
    assert.are.equal("1\tboom\n1\tboom\n", out)
  end)
end)
