-- taskrun.wait, wait_all and wait_any against the simulator: given this server behaviour, the
-- runbook sees this. Fast intervals keep the specs short; nothing here asserts a duration
-- except the Retry-After gap, which can only be too short if the rule is broken.
local H = require("harness")
local cjson = require("cjson")

local run, ok = H.sim_runners(H.WAIT_PRELUDE)

-- A BlueXP job that moves one step per read.
local job = [[sim.task({ provider = "bluexp", mode = "poll", steps = %s })]]

describe("taskrun.wait", function()
  it("polls at once and returns a task that is already done without sleeping", function()
    -- An hour-long interval: the run's --timeout would end it if anything slept.
    local out = ok(string.format([[
      local j = %s
      local t = bluexp.job(j.id)                       -- read 1: PENDING
      local done = taskrun.wait(t, { interval = "1h", max_interval = "1h" })  -- read 2: COMPLETED
      print(done.state, #sim.requests("/job/"))
      print(taskrun.wait(done, { interval = "1h" }).state, #sim.requests("/job/"))
    ]], job:format('{ "PENDING", "COMPLETED" }')), { flags = { "--timeout", "60s" } })
    assert.are.equal("COMPLETED\t2\nCOMPLETED\t2\n", out)
  end)

  it("waits on a function returning a Task, and task:wait is the same", function()
    local out = ok(string.format([[
      local j = %s
      print(taskrun.wait(function() return bluexp.job(j.id) end, fast).state)
      local k = %s
      print(bluexp.job(k.id):wait(fast).state)
    ]], job:format('{ "PENDING", "IN_PROGRESS", "COMPLETED" }'),
        job:format('{ "PENDING", "COMPLETED" }')))
    assert.are.equal("COMPLETED\nCOMPLETED\n", out)
  end)

  it("sleeps the scheduled, jittered delays between polls", function()
    local out, r = ok(string.format([[
      local j = %s
      taskrun.wait(bluexp.job(j.id), { interval = 0.01, max_interval = 0.04, seed = 3 })
    ]], job:format('{ "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING", "COMPLETED" }')),
      { flags = { "--log-format", "json" } })
    local delays = {}
    for d in r.stderr:gmatch('"delay":([%d.e-]+)') do delays[#delays + 1] = tonumber(d) end
    assert.are.equal(5, #delays)
    local distinct = {}
    for _, d in ipairs(delays) do
      assert.is_true(d >= 0.01 and d <= 0.04)
      distinct[d] = true
    end
    assert.is_true(next(distinct, next(distinct)) ~= nil, "all delays were equal")
  end)

  it("gives each target of wait_all delays of its own, so targets do not poll in step", function()
    local _, r = ok(string.format([[
      local a, b = %s, %s
      taskrun.wait_all({ bluexp.job(a.id), bluexp.job(b.id) },
        { interval = 0.01, max_interval = 0.08 })
    ]], job:format('{ "PENDING", "PENDING", "PENDING", "PENDING", "COMPLETED" }'),
        job:format('{ "PENDING", "PENDING", "PENDING", "PENDING", "COMPLETED" }')),
      { flags = { "--log-format", "json" } })
    local by_id = {}
    for line in r.stderr:gmatch("[^\n]+") do
      local ev = cjson.decode(line)
      if ev.event == "poll" then
        by_id[ev.task_id] = by_id[ev.task_id] or {}
        table.insert(by_id[ev.task_id], ev.delay)
      end
    end
    local seqs = {}
    for _, list in pairs(by_id) do seqs[#seqs + 1] = table.concat(list, ",") end
    assert.are.equal(2, #seqs, r.stderr)
    assert.are_not.equal(seqs[1], seqs[2])
  end)

  it("survives 5xx, 429, a dropped connection and a malformed body, then succeeds", function()
    local out, r = ok(string.format([[
      local j = %s
      local first = bluexp.job(j.id)
      for _, kind in ipairs({ "server_error", "rate_limit", "malformed_json" }) do
        sim.fault({ provider = "bluexp", path = JOBS, kind = kind, count = 1, retry_after = 0 })
      end
      -- libcurl quietly resends a GET once when its reused connection died, so one drop could
      -- go unseen: eight in a row make sure the wait itself sees resets, then the server heals.
      sim.fault({ provider = "bluexp", path = JOBS, kind = "drop", count = 8 })
      local t = taskrun.wait(first, fast)
      print(t.state)
    ]], job:format('{ "PENDING", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" }')))
    assert.are.equal("COMPLETED\n", out)
    assert.matches("poll failed (503)", r.stderr, 1, true)
    assert.matches("poll failed (429)", r.stderr, 1, true)
    assert.matches("poll failed (reset)", r.stderr, 1, true)
    assert.matches("poll failed (bad body)", r.stderr, 1, true)
    assert.matches("1x 503", r.stderr, 1, true)
  end)

  it("honours Retry-After: the next poll comes no sooner than the server asked", function()
    local out = ok(string.format([[
      local j = %s
      local first = bluexp.job(j.id)
      sim.fault({ provider = "bluexp", path = JOBS, kind = "rate_limit", count = 1,
                  retry_after = 1 })
      taskrun.wait(first, fast)
      local reqs = sim.requests("/job/")
      print(reqs[2].status, sim.gap(reqs[2], reqs[3]) >= 0.95)
    ]], job:format('{ "PENDING", "COMPLETED" }')))
    assert.are.equal("429\ttrue\n", out)
  end)

  it("fails at once when Retry-After would land past the deadline", function()
    local r = run(string.format([[
      local j = %s
      local first = bluexp.job(j.id)
      sim.fault({ provider = "bluexp", path = JOBS, kind = "rate_limit", count = 1,
                  retry_after = 3600 })
      taskrun.wait(first, with({ timeout = "2m" }))
    ]], job:format('{ "PENDING", "COMPLETED" }')))
    assert.are.equal(4, r.code)
    -- Clamped to max_retry_after (5m) first: still past a 2m deadline.
    assert.matches("asked to retry after 1h00m00s (max_retry_after 5m00s), past the deadline",
      r.stderr, 1, true)
  end)

  -- Under --sim the token is obtained, so a 401 is first taken for an expired token: renewed
  -- once and the poll repeated once (spec/credentials_spec.lua); the second 401 ends the wait.
  it("ends on a 401 that a renewed token does not cure, kind auth, exit 5", function()
    local r = run(string.format([[
      local j = %s
      local first = bluexp.job(j.id)
      sim.fault({ provider = "bluexp", kind = "expired_token", count = 1000 })
      local ok, err = pcall(taskrun.wait, first, fast)
      print(err.kind, #sim.requests("/job/"))
      error(err)
    ]], job:format('{ "PENDING", "COMPLETED" }')))
    assert.are.equal(5, r.code)
    assert.matches("^auth\t3\n", r.stdout)
    assert.matches("1 poll in [%d.]+s; responses: 1x 401", r.stderr)
  end)

  it("times out with exit 4, naming the last state, polls and response counts", function()
    local r = run(string.format([[
      local j = %s
      taskrun.wait(bluexp.job(j.id), with({ timeout = 0.5 }))
    ]], job:format('{ "IN_PROGRESS" }')))
    assert.are.equal(4, r.code)
    assert.matches("timeout: timed out after", r.stderr, 1, true)
    assert.matches("last state IN_PROGRESS (running)", r.stderr, 1, true)
    assert.matches("polls in", r.stderr, 1, true)
    assert.matches("responses: %d+x 200", r.stderr)
  end)

  it("raises failed (exit 3) with the vendor's message, or returns it with raise = false", function()
    local steps = '{ "PENDING", { state = "FAILED", error = "volume offline" } }'
    local out = ok(string.format([[
      local j = %s
      local t = taskrun.wait(bluexp.job(j.id), with({ raise = false }))
      print(t.state, t.ok, t.message)
    ]], job:format(steps)))
    assert.are.equal("FAILED\tfalse\tvolume offline\n", out)
    local r = run(string.format("taskrun.wait(bluexp.job((%s).id), fast)", job:format(steps)))
    assert.are.equal(3, r.code)
    assert.matches("failed: bluexp task .* ended FAILED %(failed%): volume offline", r.stderr)
  end)

  it("raises cancelled for a cancelled task", function()
    local r = run([[
      sim.task({ provider = "redpanda", id = 5, mode = "poll", steps = { "STATE_CANCELING", "STATE_CANCELLED" } })
      redpanda.mount_task(5):wait(fast)
    ]])
    assert.are.equal(3, r.code)
    assert.matches("cancelled: redpanda task 5 ended STATE_CANCELLED", r.stderr, 1, true)
  end)

  it("stops when `until` holds, and only after `stable` polls in a row", function()
    local out = ok([[
      sim.task({ provider = "redpanda", id = 6, mode = "poll", steps = { "STATE_PLANNED",
        "STATE_PREPARED", "STATE_EXECUTING", "STATE_PREPARED", "STATE_PREPARED", "STATE_PREPARED",
        "STATE_EXECUTED" } })
      local prepared = function(t) return t.state == "STATE_PREPARED" end
      local t = redpanda.mount_task(6)
      print(taskrun.wait(t, with({ ["until"] = prepared })).state, #sim.requests("/mount-tasks/6"))
      print(taskrun.wait(t, with({ ["until"] = prepared, stable = 3 })).state,
        #sim.requests("/mount-tasks/6"))
    ]])
    assert.are.equal("STATE_PREPARED\t2\nSTATE_PREPARED\t6\n", out)
  end)

  it("calls on_change for every state change", function()
    local out = ok(string.format([[
      local j = %s
      local seen = {}
      taskrun.wait(bluexp.job(j.id), with({ on_change = function(t) seen[#seen + 1] = t.state end }))
      print(table.concat(seen, " "))
    ]], job:format('{ "PENDING", "PENDING", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" }')))
    assert.are.equal("PENDING IN_PROGRESS COMPLETED\n", out)
  end)

  it("treats a 404 as not there yet for not_found, then as an error", function()
    local out = ok([[
      local calls = 0
      local function appears()
        calls = calls + 1
        if calls == 3 then sim.task({ provider = "redpanda", id = 77, steps = { "STATE_FINISHED" } }) end
        return redpanda.mount_task(77)
      end
      print(taskrun.wait(appears, with({ not_found = "30s" })).state)
      local ok, err = pcall(taskrun.wait, function() return redpanda.mount_task(78) end, fast)
      print(ok, err.kind, #sim.requests("/mount-tasks/78"))
    ]])
    assert.are.equal("STATE_FINISHED\nfalse\tnot_found\t1\n", out)
  end)

  it("rejects bad options with kind usage", function()
    local out = ok([[
      for _, o in ipairs({ { interval = 0 }, { interval = 5, max_interval = 1 }, { backoff = 0.5 },
                           { stable = 0 }, { ["until"] = 1 }, { timeout = "soon" },
                           { timeout = 0 }, { jitter = "yes" }, { timout = "5m" } }) do
        io.write(select(2, pcall(taskrun.wait, function() end, o)).kind, " ")
      end
      print(select(2, pcall(taskrun.wait, 42)).kind)
      print(tostring(select(2, pcall(taskrun.wait, function() end, { timout = "5m" }))))
    ]])
    assert.are.equal("usage usage usage usage usage usage usage usage usage usage\n"
      .. 'usage: taskrun.wait: unknown option "timout" (see the README\'s table of wait '
      .. "options)\n", out)
  end)

  it("logs each state change as one line, and JSON events with --log-format json", function()
    local steps = job:format('{ "PENDING", "IN_PROGRESS", "COMPLETED" }')
    local _, text = ok(string.format("taskrun.wait(bluexp.job((%s).id), fast)", steps))
    assert.matches("bluexp task [%w-]+: PENDING %(", text.stderr)
    assert.matches("bluexp task [%w-]+: PENDING %-> IN_PROGRESS %(", text.stderr)
    assert.matches("bluexp task [%w-]+: IN_PROGRESS %-> COMPLETED %(", text.stderr)
    local _, js = ok(string.format("taskrun.wait(bluexp.job((%s).id), fast)", steps),
      { flags = { "--log-format", "json" } })
    for _, ev in ipairs({ "poll", "transition", "end" }) do
      assert.matches('"event":"' .. ev .. '"', js.stderr, 1, true)
    end
    for line in js.stderr:gmatch("[^\n]+") do assert.matches("^{.*}$", line) end
  end)

  it("prints a heartbeat when nothing changes", function()
    local _, r = ok(string.format([[
      local j = %s
      taskrun.wait(bluexp.job(j.id), with({ heartbeat = 0.1 }))
    ]], job:format('{ "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", '
      .. '"IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" }')))
    assert.matches("still IN_PROGRESS %(running%) after .*, .* left", r.stderr)
  end)
end)

describe("taskrun.wait_all and wait_any", function()
  it("returns every Task in the order given", function()
    local out = ok(string.format([[
      local a, b = %s, %s
      local all = taskrun.wait_all({ bluexp.job(a.id), bluexp.job(b.id) }, fast)
      print(#all, all[1].id == a.id, all[2].id == b.id, all[1].state, all[2].state)
    ]], job:format('{ "PENDING", "PENDING", "PENDING", "COMPLETED" }'),
        job:format('{ "PENDING", "COMPLETED" }')))
    assert.are.equal("2\ttrue\ttrue\tCOMPLETED\tCOMPLETED\n", out)
  end)

  it("shares one deadline between all targets instead of one each", function()
    -- Three stuck targets and a 1s timeout: one deadline ends all three at 1s. A deadline per
    -- target, waited in turn, would need 3s and the run's --timeout would end it first.
    local r = run(string.format([[
      local a, b, c = %s, %s, %s
      taskrun.wait_all({ bluexp.job(a.id), bluexp.job(b.id), bluexp.job(c.id) },
        with({ timeout = 1 }))
    ]], job:format('{ "IN_PROGRESS" }'), job:format('{ "IN_PROGRESS" }'),
        job:format('{ "IN_PROGRESS" }')), { flags = { "--timeout", "2.5s" } })
    assert.are.equal(4, r.code)
    assert.matches("timeout: target %d of 3: timed out after", r.stderr)
    assert.is_falsy(r.stderr:find("--timeout 2.5s ran out", 1, true))
  end)

  it("stops at the first failure, cancels the others and says which target failed", function()
    local r = run(string.format([[
      local stuck, bad = %s, %s
      taskrun.wait_all({ bluexp.job(stuck.id), bluexp.job(bad.id) }, fast)
    ]], job:format('{ "IN_PROGRESS" }'),
        job:format('{ "PENDING", { state = "FAILED", error = "no space" } }')),
      { flags = { "--timeout", "30s" } })
    assert.are.equal(3, r.code)
    assert.matches("failed: target 2 of 2: bluexp task .* ended FAILED %(failed%): no space", r.stderr)
  end)

  it("with fail_fast = false, waits for every target and gives each one's final Task in "
    .. "err.tasks, in order", function()
    local out = ok(string.format([[
      local good, bad, worse = %s, %s, %s
      local targets = { bluexp.job(good.id), bluexp.job(bad.id), bluexp.job(worse.id),
        function() error(taskrun.error("http", "no task to show")) end }
      local ok, err = pcall(taskrun.wait_all, targets, with({ fail_fast = false }))
      print(ok, err.kind, err.index, #err.tasks)
      for i, t in ipairs(err.tasks) do
        print(i, t and t.id == targets[i].id, t and t.state, t and t.status)
      end
      print(err.tasks[4])
    ]], job:format('{ "PENDING", "PENDING", "PENDING", "COMPLETED" }'),
        job:format('{ "PENDING", { state = "FAILED", error = "no space" } }'),
        job:format('{ "PENDING", "PENDING", { state = "FAILED", error = "no quota" } }')),
      { flags = { "--timeout", "30s" } })
    -- target 4 raised first (no request): the error is its; every other target still ran on
    assert.are.equal("false\thttp\t4\t4\n"
      .. "1\ttrue\tCOMPLETED\tsucceeded\n2\ttrue\tFAILED\tfailed\n3\ttrue\tFAILED\tfailed\n"
      .. "4\tfalse\tfalse\tfalse\nfalse\n", out)
  end)

  it("wait_any returns the first target done and its index", function()
    local out = ok(string.format([[
      local slow, quick = %s, %s
      local t, i = taskrun.wait_any({ bluexp.job(slow.id), bluexp.job(quick.id) }, fast)
      print(i, t.id == quick.id, t.state)
    ]], job:format('{ "IN_PROGRESS" }'), job:format('{ "PENDING", "COMPLETED" }')),
      { flags = { "--timeout", "30s" } })
    assert.are.equal("2\ttrue\tCOMPLETED\n", out)
  end)

  it("wait_any fails only when every target failed", function()
    local r = run(string.format([[
      local a, b = %s, %s
      taskrun.wait_any({ bluexp.job(a.id), bluexp.job(b.id) }, fast)
    ]], job:format('{ "FAILED" }'), job:format('{ "PENDING", "FAILED" }')))
    assert.are.equal(3, r.code)
  end)
end)

describe("interrupting a wait", function()
  -- A 30 s interval: the wait is asleep between polls when the signal comes.
  local function interrupted(sig)
    local sim = H.start_sim()
    local p = H.spawn({ env = H.sim_env(sim), script = [[
      local sim = dofile("spec/support/simctl.lua")
      local j = sim.task({ provider = "bluexp", steps = { "IN_PROGRESS" }, mode = "poll" })
      local t = taskrun.bluexp.job(j.id)
      print("ready") io.stdout:flush()
      taskrun.wait(t, { interval = 30 })
    ]] })
    assert.are.equal("ready", p:line())
    p:kill(sig)
    local r = p:wait()
    sim.stop()
    return r
  end

  it("SIGTERM exits 143 at once, saying what was being waited on", function()
    local r = interrupted("TERM")
    assert.are.equal(143, r.code)
    assert.matches("interrupted by SIGTERM while waiting on bluexp task [%w-]+, IN_PROGRESS %(running%) for", r.stderr)
  end)

  it("SIGINT exits 130 at once, saying what was being waited on", function()
    local r = interrupted("INT")
    assert.are.equal(130, r.code)
    assert.matches("interrupted by SIGINT while waiting on bluexp task [%w-]+, "
      .. "IN_PROGRESS %(running%) for", r.stderr)
    assert.matches("; cancelled 1 task\n", r.stderr, 1, true)
  end)
end)
