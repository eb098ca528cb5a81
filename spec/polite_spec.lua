-- Politeness at scale against the simulator: requests in flight bounded per host, a queued
-- request that gives up at its deadline unsent, cancels that leave the queue clean, kept
-- connections, a request rate, and a 429 that slows the whole host. Every check counts (the
-- simulator's counters, its request log's order); none times anything.
local H = require("harness")
local cjson = require("cjson")

-- BlueXP jobs and their path, fast wait options, and ids(n, steps): n jobs in poll mode.
local run, ok = H.sim_runners(H.WAIT_PRELUDE .. [[
local function ids(n, steps)
  local specs = {}
  for i = 1, n do specs[i] = { provider = "bluexp", mode = "poll", steps = steps } end
  local out = {}
  local res = http.post(sim.url .. "/_sim/tasks", { json = specs })
  for i, t in ipairs(res:json().tasks) do out[i] = t.id end
  return out
end
local function stats() return http.get(sim.url .. "/_sim/stats"):json() end
local function reset() http.post(sim.url .. "/_sim/stats/reset") end
]])

-- Runs the 200 waits of the in-flight spec with `client` (Lua text making the client) and env.
-- Each client gets its token first (a list of jobs, which reads no job: none exists yet).
local function fan_out(client, env)
  return ok(string.format([[
    local c = %s
    c:restore_jobs()
    -- Each read held 50 ms, so the requests let through overlap at the simulator.
    sim.fault({ kind = "latency", path = JOBS, ms = 50, count = -1 })
    local list = ids(200, { "IN_PROGRESS", "COMPLETED" })
    reset()
    local targets = {}
    for i, id in ipairs(list) do targets[i] = function() return c:job(id) end end
    local done = taskrun.wait_all(targets, with({ timeout = "5m" }))
    local st = stats()
    local completed = 0
    for _, t in ipairs(done) do if t.state == "COMPLETED" then completed = completed + 1 end end
    print(taskrun.json.encode({ completed = completed, max_inflight = st.max_inflight,
                                reads = #sim.requests("/job/") }))
  ]], client), { env = env })
end

describe("politeness", function()
  it("keeps a client with max_inflight = 4 to 4 requests in flight while 200 waits run", function()
    local out = fan_out("bluexp.client({ max_inflight = 4 })")
    local r = cjson.decode(out)
    assert.are.equal(200, r.completed)
    assert.are.equal(400, r.reads)
    assert.is_true(r.max_inflight <= 4, "the simulator saw " .. r.max_inflight .. " in flight")
    assert.is_true(r.max_inflight >= 2, "nothing overlapped: the check proves nothing")
  end)

  it("keeps every request to a host to TASKRUN_MAX_INFLIGHT in flight", function()
    local out = fan_out("bluexp.client({})", { TASKRUN_MAX_INFLIGHT = "4" })
    local r = cjson.decode(out)
    assert.are.equal(200, r.completed)
    assert.is_true(r.max_inflight <= 4, "the simulator saw " .. r.max_inflight .. " in flight")
    assert.is_true(r.max_inflight >= 2, "nothing overlapped: the check proves nothing")
  end)

  it("ends a queued poll whose deadline passes with kind timeout, never sending it", function()
    local out = ok([[
      local c = bluexp.client({ max_inflight = 1 })
      c:restore_jobs()   -- its token
      local j = ids(1, { "PENDING", "COMPLETED" })[1]
      c:job(j)
      -- The host's one slot for this client, held until cancelled.
      local hold = taskrun.spawn(http.get, sim.url .. "/_sim/delay",
        { query = { ms = 600000 }, max_inflight = 1 })
      taskrun.yield()
      local okw, err = pcall(taskrun.wait, function() return c:job(j) end,
        { timeout = 0.5, interval = 0.05 })
      print(okw, err.kind, err.polls, tostring(err.responses.timeout))
      local plain, perr = pcall(http.get, sim.url .. "/_sim/echo/late",
        { max_inflight = 1, timeout = 0.2 })
      print(plain, perr.kind, perr.cause, perr.sent)
      print(perr.message)
      hold:cancel()
      -- Once the slot is free, nothing that gave up is sent after all.
      print(http.get(sim.url .. "/_sim/echo/after", { max_inflight = 1 }).status)
      print(#sim.requests("/job/"), #sim.requests("/_sim/echo/late"))
    ]])
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal("false\ttimeout\t1\t1", lines[1])
    assert.are.equal("false\ttransport\ttimeout\tfalse", lines[2])
    assert.matches("GET http://127.0.0.1:%d+/_sim/echo/late not sent: its timeout ran out "
      .. "while it waited for its turn on http://127.0.0.1:%d+ %(1 in flight, at most 1%)",
      lines[3])
    assert.are.equal("200", lines[4])
    assert.are.equal("1\t0", lines[5])
  end)

  it("takes cancelled queued requests out of the queue, never sent", function()
    local out = ok([[
      local hold = taskrun.spawn(http.get, sim.url .. "/_sim/delay",
        { query = { ms = 600000 }, max_inflight = 1 })
      local queued = {}
      for i = 1, 3 do
        queued[i] = taskrun.spawn(http.get, sim.url .. "/_sim/echo/queued",
          { max_inflight = 1 })
      end
      taskrun.yield()
      for i = 1, 3 do queued[i]:cancel() end
      hold:cancel()
      -- The slot and the queue are free: this one goes at once, alone.
      print(http.get(sim.url .. "/_sim/echo/next", { max_inflight = 1 }).status)
      print(queued[1]:status(), #sim.requests("/_sim/echo/queued"),
        #sim.requests("/_sim/echo/next"))
    ]])
    assert.are.equal("200\ncancelled\t0\t1\n", out)
  end)

  it("stops on SIGTERM with requests queued, and sends none of them", function()
    local sim = H.start_sim()
    local p = H.spawn({ env = H.sim_env(sim), script = [[
      local http = taskrun.http
      local base = os.getenv("TASKRUN_SIM_URL")
      taskrun.spawn(http.get, base .. "/_sim/delay", { query = { ms = 600000 }, max_inflight = 1 })
      for i = 1, 5 do taskrun.spawn(http.get, base .. "/_sim/echo/q", { max_inflight = 1 }) end
      taskrun.yield()
      print("ready") io.stdout:flush()
      taskrun.sleep(600)
    ]] })
    assert.are.equal("ready", p:line())
    p:kill("TERM")
    local r = p:wait()
    local log = sim.call("GET", "/_sim/requests")
    sim.stop()
    assert.are.equal(143, r.code, r.stderr)
    local queued = 0
    for _, e in ipairs(log.requests) do
      if e.path == "/_sim/echo/q" then queued = queued + 1 end
    end
    assert.are.equal(0, queued)
  end)

  it("keeps connections and reuses them: far fewer accepted than requests", function()
    local out = ok([[
      bluexp.restore_jobs()   -- the token, before counting
      local list = ids(200, { "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" })
      reset()
      local targets = {}
      for i, id in ipairs(list) do targets[i] = function() return bluexp.job(id) end end
      taskrun.wait_all(targets, with({ timeout = "5m" }))
      local st = stats()
      print(taskrun.json.encode({ requests = st.requests, connections = st.connections,
                                  max_open = st.max_open_connections }))
    ]])
    local r = cjson.decode(out)
    assert.is_true(r.requests >= 600, "requests " .. r.requests)
    -- At most the 32 a host may have in flight, whatever the number of waits.
    assert.is_true(r.connections <= 32, "connections accepted " .. r.connections)
    assert.is_true(r.max_open <= 40, "connections open at once " .. r.max_open)
  end)

  -- With a rate of 4/s and a bucket of one token, by `e` seconds after the first request at
  -- most 1 + 4e can have been sent, however slow the machine is; without the rate all 12
  -- would be sent at once.
  local rated = [[
    local opts = %s
    local t0 = taskrun.now()
    local hs = {}
    for i = 1, 12 do hs[i] = taskrun.spawn(http.get, sim.url .. "/_sim/echo/rated", opts) end
    local over = {}
    for i = 1, 12 do
      hs[i]:join()
      local seen = #sim.requests("/_sim/echo/rated")
      local e = taskrun.now() - t0
      if seen > 1 + math.floor(4 * e + 1e-6) then over[#over + 1] = seen .. " by " .. e end
    end
    print(#sim.requests("/_sim/echo/rated"), table.concat(over, ", "))
  ]]

  it("sends at most the rate a request gives to its host", function()
    assert.are.equal("12\t\n", ok(rated:format('{ rate = "4/s" }')))
  end)

  it("sends at most TASKRUN_RATE to each host", function()
    assert.are.equal("12\t\n", ok(rated:format("{}"), { env = { TASKRUN_RATE = "4/s" } }))
  end)

  it("holds every request to a host that answered 429 until its Retry-After, and none fails",
    function()
    -- Task A's first read is a 429 asking for 1 s; ten others read fast meanwhile. Held, they
    -- queue: few of their reads reach the simulator between A's 429 and A's next read. Not
    -- held, all their 300 reads would.
    local out = ok([[
      bluexp.restore_jobs()
      local a = ids(1, { "IN_PROGRESS", "COMPLETED" })[1]
      local steps = {}
      for i = 1, 30 do steps[i] = "IN_PROGRESS" end
      steps[31] = "COMPLETED"
      local others = ids(10, steps)
      sim.fault({ kind = "rate_limit", path = JOBS:sub(1, -2) .. a, count = 1, retry_after = 1 })
      local targets = { function() return bluexp.job(a) end }
      for i, id in ipairs(others) do
        targets[i + 1] = function() return bluexp.job(id) end
      end
      local done = taskrun.wait_all(targets, { interval = 0.01, max_interval = 0.01,
                                               timeout = "5m" })
      local completed = 0
      for _, t in ipairs(done) do if t.state == "COMPLETED" then completed = completed + 1 end end
      local log = sim.requests("/job/")
      local first, again, limited
      for i, e in ipairs(log) do
        if e.path:sub(-#a) == a then
          if e.status == 429 then limited, first = (limited or 0) + 1, i
          elseif first and not again then again = i end
        end
      end
      print(completed, limited, again - first - 1)
    ]])
    local completed, limited, between = out:match("^(%d+)\t(%d+)\t(%d+)\n$")
    assert.are.equal("11", completed, out)
    assert.are.equal("1", limited)
    -- At most the ten held (one each) and those already on their way when the 429 came back.
    assert.is_true(tonumber(between) <= 40, between .. " reads between A's 429 and its retry")
  end)

  it("lives through a 429 storm: every wait on the host ends well", function()
    local out = ok([[
      bluexp.restore_jobs()
      local list = ids(20, { "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" })
      sim.fault({ kind = "rate_limit", path = JOBS, count = 10, retry_after = 1 })
      local targets = {}
      for i, id in ipairs(list) do targets[i] = function() return bluexp.job(id) end end
      local done = taskrun.wait_all(targets, with({ timeout = "5m" }))
      local completed = 0
      for _, t in ipairs(done) do if t.state == "COMPLETED" then completed = completed + 1 end end
      local limited = 0
      for _, e in ipairs(sim.requests("/job/")) do
        if e.status == 429 then limited = limited + 1 end
      end
      print(completed, limited, #sim.requests("/job/"))
    ]])
    assert.are.equal("20\t10\t70\n", out)
  end)
end)

describe("politeness settings", function()
  local function refused(env, script)
    local r = H.run({ env = env, script = script or "print('ran')" })
    assert.are.equal(2, r.code, r.stderr)
    assert.are.equal("", r.stdout)
    return r.stderr
  end

  it("refuses a bad TASKRUN_MAX_INFLIGHT or TASKRUN_RATE at start, naming it", function()
    for _, v in ipairs({ "0", "abc", "1e3", "-4", "100001", "4 " }) do
      assert.matches('bad TASKRUN_MAX_INFLIGHT "' .. v:gsub("%-", "%%-") .. '": give the most '
        .. "requests in flight to one host, a whole number from 1 to 100000 %(default 32%)",
        refused({ TASKRUN_MAX_INFLIGHT = v }))
    end
    assert.matches('bad TASKRUN_RATE "fast": give requests per second, minute or hour, like '
      .. '"20/s", "100/m" or "0.5/s"', refused({ TASKRUN_RATE = "fast" }), 1, true)
    assert.matches('bad TASKRUN_RATE "0/s": a rate must be more than 0',
      refused({ TASKRUN_RATE = "0/s" }), 1, true)
    local r = H.run({ env = { TASKRUN_MAX_INFLIGHT = "", TASKRUN_RATE = "" },
      script = "print('ran')" })
    assert.are.equal("ran\n", r.stdout)
  end)

  it("takes rates per second, minute and hour", function()
    local r = H.run({ script = [[
      local p = require("taskrun._http").parse_rate
      for _, t in ipairs({ "20/s", "120/m", "0.5/s", "3600/h", " 2 / s ", "20", "/s", "1e3/s",
                           "2/d", "2000000/s" }) do
        print(p(t))
      end
    ]] })
    assert.are.equal(0, r.code, r.stderr)
    local form = 'give requests per second, minute or hour, like "20/s", "100/m" or "0.5/s"'
    assert.are.equal(table.concat({ "20.0", "2.0", "0.5", "1.0", "2.0", "nil\t" .. form,
      "nil\t" .. form, "nil\t" .. form, "nil\t" .. form, "nil\ta rate is at most 1000000/s" },
      "\n") .. "\n", r.stdout)
  end)

  it("refuses a client's bad max_inflight or rate when the client is made", function()
    local r = H.run({ env = H.sim_env({ url = "http://127.0.0.1:9" }), script = [[
      for _, o in ipairs({ { max_inflight = 0 }, { max_inflight = "4" }, { max_inflight = 2.5 },
                           { rate = "fast" }, { rate = 5 } }) do
        local okc, err = pcall(taskrun.bluexp.client, o)
        print(okc, err.kind, err.message)
      end
      for _, o in ipairs({ { max_inflight = 0 }, { rate = "5" } }) do
        o.url = "http://127.0.0.1:9/"
        local okr, err = pcall(taskrun.http.request, o)
        print(okr, err.kind, err.message)
      end
    ]] })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(table.concat({
      "false\tusage\tbluexp.client: bad max_inflight 0: give the most requests this client may "
        .. "have in flight to its host at once, a whole number from 1",
      'false\tusage\tbluexp.client: bad max_inflight "4": give the most requests this client '
        .. "may have in flight to its host at once, a whole number from 1",
      "false\tusage\tbluexp.client: bad max_inflight 2.5: give the most requests this client "
        .. "may have in flight to its host at once, a whole number from 1",
      'false\tusage\tbluexp.client: bad rate "fast": give requests per second, minute or hour, '
        .. 'like "20/s", "100/m" or "0.5/s"',
      'false\tusage\tbluexp.client: bad rate 5: give a string, like "20/s"',
      "false\tusage\thttp: bad max_inflight 0: give the most requests in flight to the host, a "
        .. "whole number from 1",
      'false\tusage\thttp: bad rate "5": give requests per second, minute or hour, like '
        .. '"20/s", "100/m" or "0.5/s"',
    }, "\n") .. "\n", r.stdout)
  end)
end)
