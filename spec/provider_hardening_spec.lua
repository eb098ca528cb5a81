-- The providers against a misbehaving server and hostile input: given this body or this id,
-- the runbook sees a taskrun error of the documented kind, never a raw Lua error, a request to
-- the wrong task, a hang or a message the size of the input.
local H = require("harness")

local run, ok = H.sim_runners("local redpanda, keycard, astra, bluexp = taskrun.redpanda, "
  .. "taskrun.keycard, taskrun.astra, taskrun.bluexp\n")

-- Every call that reads a vendor body, with the bodies each must refuse: the simulator answers
-- `body` (status 200, or `status`) to the call's first request. A call may take a body others
-- refuse: an empty list is a list.
local CALLS = [==[
local restore = { restore = { type = "volume", source = { bucket = "b" },
                              target = { svm = "s" } } }
local SCALARS = { "null", "42", '"hi"', "true" }
local OBJECT = { "[]", "[1]", '[{"id": 5}]' }
local calls = {
  { "redpanda", "mount_task", function() return redpanda.mount_task(5) end,
    { '{"task": null}', '{"task": [1]}', '{"task": 7}' } },
  { "redpanda", "mount_tasks", function() return redpanda.mount_tasks() end,
    { '{"tasks": null}', '{"tasks": 5}', '{"tasks": [null]}', "[null]", "[[1]]",
      '[{"id": "x", "state": "STATE_PLANNED"}]', '[{"state": "STATE_PLANNED"}]',
      '{"tasks": [{"id": 7.5}]}' }, true },
  { "redpanda", "mount_topics", function() return redpanda.mount_topics({ "t" }) end,
    { '{"mount_task_id": null}', '{"mount_task_id": "0x10"}', '{"mount_task_id": 7.5}',
      '{"other": 1}', '{"task": null}' } },
  { "keycard", "catalog_task", function() return keycard.catalog_task("z", "t1") end, {} },
  { "keycard", "install", function() return keycard.install("z", { package_id = "p" }) end,
    { '{"id": null, "status": "pending"}', '{"status": "pending"}', '{"id": ""}' } },
  { "keycard", "uninstall", function() return keycard.uninstall("z", "i1") end,
    { '{"id": [1], "status": "pending"}' } },
  { "keycard", "get_install", function() return keycard.get_install("z", "i1") end, {} },
  { "astra", "task", function() return astra.task("t1") end, {} },
  { "astra", "tasks", function() return astra.tasks() end,
    { '{"items": null}', '{"items": 3}', '{"items": [null]}', '{"items": [1]}',
      '{"items": [], "metadata": null}', '{"items": [], "metadata": {"continue": 5}}' } },
  { "astra", "tasks{include}", function() return astra.tasks({ include = "id,state" }) end,
    { '{"items": [null]}', '{"items": [{}]}', '{"items": ["x"]}' } },
  { "astra", "backup", function() return astra.backup("app1") end, {} },
  { "bluexp", "job", function() return bluexp.job("j1") end,
    { '{"job": null}', '{"job": [null]}', '{"job": 5}', '{"job": ["x"]}' } },
  { "bluexp", "restore_jobs", function() return bluexp.restore_jobs() end,
    { '{"job": null}', '{"job": [null]}', '{"job": [{"status": "PENDING"}]}' } },
  { "bluexp", "restore_job", function() return bluexp.restore_job("j1") end,
    { '{"job": [[]]}' } },
  { "bluexp", "start_restore", function() return bluexp.start_restore(restore) end,
    { '{"job-id": null}', '{"job-id": 7.5}', '{"other": 1}' } },
}
]==]

describe("provider bodies that are not what the vendor documents", function()
  it("are kind decode naming the provider, the request and what was expected", function()
    local out = ok(CALLS .. [[
      local n = 0
      for _, c in ipairs(calls) do
        local name, what, call, extra, list_ok = c[1], c[2], c[3], c[4], c[5]
        local bodies = {}
        for _, b in ipairs(SCALARS) do bodies[#bodies + 1] = b end
        if not list_ok then for _, b in ipairs(OBJECT) do bodies[#bodies + 1] = b end end
        for _, b in ipairs(extra) do bodies[#bodies + 1] = b end
        for _, b in ipairs(bodies) do
          sim.clear_faults()
          sim.fault({ provider = name, kind = "body", body = b, count = 1,
                      status = what:match("^install") and 201 or nil })
          local okc, e = pcall(call)
          n = n + 1
          local good = not okc and type(e) == "table" and e.kind == "decode"
            and e.provider == name and e.status ~= nil
            and e.message:find("^" .. name .. ": [A-Z]+ http://[^ ]+ answered %d+ with .* "
              .. "where .* was expected")
          if not good then
            print(name, what, b, okc, type(e) == "table" and e.kind or "", tostring(e))
          end
        end
      end
      print("checked", n)
    ]])
    assert.matches("^checked\t%d+\n$", out)
  end)

  it("say what was found and what was expected, in words", function()
    local out = ok([[
      sim.fault({ provider = "bluexp", kind = "body", body = "[1, 2]" })
      print(select(2, pcall(bluexp.job, "7")).message:match("answered.*"))
      sim.fault({ provider = "bluexp", kind = "body", body = '{"job": [null]}' })
      print(select(2, pcall(bluexp.job, "7")).message:match("answered.*"))
      sim.fault({ provider = "astra", kind = "body", body = '{"items": null}' })
      print(select(2, pcall(astra.tasks)).message:match("answered.*"))
    ]])
    assert.are.equal("answered 200 with a JSON array where an object with a job list was "
      .. "expected\nanswered 200 with null as job 1 in \"job\" where a job object was expected\n"
      .. "answered 200 with null in \"items\" where a list of tasks was expected\n", out)
  end)

  it("are transient inside a wait, like other undecodable bodies", function()
    local out = ok([[
      sim.task({ provider = "redpanda", id = 8, mode = "poll",
                 steps = { "STATE_PLANNED", "STATE_FINISHED" } })
      local first = redpanda.mount_task(8)
      sim.fault({ provider = "redpanda", kind = "body", body = "null" })
      sim.fault({ provider = "redpanda", kind = "body", body = '{"task": [null]}' })
      local t = first:wait({ interval = 0.01, max_interval = 0.02 })
      print(t.state, #sim.requests("/mount-tasks/8"))
    ]])
    assert.are.equal("STATE_FINISHED\t4\n", out)
  end)
end)

describe("an error body", function()
  it("is read in time linear in its size: 400,000 '<' is a quick, short http error", function()
    -- The quadratic tag stripping took minutes here: the run's --timeout ends it instead.
    local out = ok([[
      sim.fault({ provider = "bluexp", kind = "body", status = 500,
                  body = string.rep("<", 400000) })
      local _, e = pcall(bluexp.job, "j1")
      print(e.kind, e.status, #e.message < 1000)
      sim.fault({ provider = "bluexp", kind = "body", status = 502,
                  body = "<html><body><h1>Bad gateway</h1>" .. string.rep("<p", 200000) })
      _, e = pcall(bluexp.job, "j1")
      print(e.kind, e.status, #e.message < 1000, e.message:find("Bad gateway", 1, true) ~= nil)
    ]], { flags = { "--timeout", "20s" } })
    assert.are.equal("http\t500\ttrue\nhttp\t502\ttrue\ttrue\n", out)
  end)

  it("quotes a bounded part of the vendor's words", function()
    local out = ok([[
      local function envelope(n)
        return '{"error": "BadRequest", "message": "' .. string.rep("x", n) .. '"}'
      end
      sim.fault({ provider = "bluexp", kind = "body", status = 400, body = envelope(50000) })
      local _, e = pcall(bluexp.job, "j1")
      print(e.kind, e.status, #e.message < 1000, e.message:find("BadRequest: xxx", 1, true) ~= nil)
      -- Past 64 KiB it is no envelope: an excerpt of its start.
      sim.fault({ provider = "bluexp", kind = "body", status = 400, body = envelope(1000000) })
      _, e = pcall(bluexp.job, "j1")
      print(e.kind, e.status, #e.message < 1000, e.message:find('"BadRequest"', 1, true) ~= nil)
    ]])
    assert.are.equal("http\t400\ttrue\ttrue\nhttp\t400\ttrue\ttrue\n", out)
  end)
end)

describe("the Astra task list", function()
  it("stops after 1,000 pages with kind http, rather than paging for ever", function()
    -- A continue token that never ends: t1, t2, t3, ... (28,364 requests in 5 s before).
    local out = ok([[
      sim.fault({ provider = "astra", kind = "body", count = -1,
                  body = '{"items": [], "metadata": {"continue": "t{n}"}}' })
      local okc, e = pcall(astra.tasks)
      print(okc, e.kind, e.provider, #sim.requests("/core/v1/tasks"))
      print(e.message:match("more than 1000 pages") ~= nil, e.message:match("filter") ~= nil)
      sim.clear_faults()
      for _ = 1, 3 do
        sim.task({ provider = "astra", name = "astra.backup", steps = { "running" } })
      end
      print(#astra.tasks({ limit = 1 }))   -- an ending list pages to its end
    ]], { flags = { "--timeout", "60s" } })
    assert.are.equal("false\thttp\tastra\t1000\ntrue\ttrue\n3\n", out)
  end)

  it("stops at a repeated continue token", function()
    local out = ok([[
      sim.fault({ provider = "astra", kind = "body", count = -1,
                  body = '{"items": [], "metadata": {"continue": "again"}}' })
      local okc, e = pcall(astra.tasks)
      print(okc, e.kind, e.provider, #sim.requests("/core/v1/tasks"))
    ]])
    assert.are.equal("false\thttp\tastra\t2\n", out)
  end)
end)

describe("astra.backup", function()
  it("without the created id is kind decode saying the backup may have started", function()
    -- Someone else's backup task: an empty filter would have returned it.
    local out = ok([[
      sim.task({ provider = "astra", name = "astra.backup", steps = { "running" } })
      sim.fault({ provider = "astra", method = "POST", kind = "body", status = 201, body = "{}" })
      local okc, e = pcall(astra.backup, "app-1", { name = "nightly" })
      print(okc, e.kind, e.provider, e.status, e.backup_name)
      print(e.message:find("may have started", 1, true) ~= nil,
            e.message:find('"nightly"', 1, true) ~= nil, #sim.requests("/core/v1/tasks"))
    ]])
    assert.are.equal("false\tdecode\tastra\t201\tnightly\ntrue\ttrue\t0\n", out)
  end)
end)

describe("task ids", function()
  it("for Redpanda are decimal integers: anything else is usage and nothing is sent", function()
    local out = ok([[
      for _, id in ipairs({ "0x10", " 7 ", "1e3", "7.5", "", "99999999999999999999", "+7" }) do
        local okc, e = pcall(redpanda.mount_task, id)
        io.write(e.kind, " ")
      end
      for _, id in ipairs({ 7.5, 2^60 + 0.0, 0/0, 1/0, true }) do
        local okc, e = pcall(redpanda.mount_task, id)
        io.write(e.kind, " ")
      end
      print(#sim.requests("/mount-tasks"))
      sim.task({ provider = "redpanda", id = 16, steps = { "STATE_PLANNED" } })
      local t = redpanda.mount_task("16")
      print(t.id, math.type(t.id), sim.requests("/mount-tasks")[1].path)
    ]])
    assert.are.equal(string.rep("usage ", 12) .. "0\n"
      .. "16\tinteger\t/v1/cloud-storage/mount-tasks/16\n", out)
  end)

  it("for the others are non-empty strings (or integers): anything else is usage", function()
    local out = ok([[
      local calls = {
        function() return keycard.catalog_task("z", {}) end,
        function() return keycard.catalog_task("z", 1.5) end,
        function() return keycard.get_install("z", "") end,
        function() return astra.task(5) end,
        function() return astra.backup("") end,
        function() return bluexp.job(7.5) end,
        function() return bluexp.restore_job({}) end,
      }
      for _, f in ipairs(calls) do io.write(select(2, pcall(f)).kind, " ") end
      print(#sim.requests())
    ]])
    assert.are.equal(string.rep("usage ", 7) .. "0\n", out)
  end)

  it("are quoted in a bounded length: a 1 MB id makes no 1 MB message", function()
    local out = ok([[
      local big = string.rep("9", 1000000)
      local _, e = pcall(redpanda.mount_task, big .. "x")
      print(e.kind, #e.message < 400)
      _, e = pcall(redpanda.update_mount_task, 5, string.rep("a", 1000000))
      print(e.kind, #e.message < 400)
      _, e = pcall(astra.tasks, { filter = { name = "'" .. big } })
      print(e.kind, #e.message < 400)
      -- Sent: the server's answer to a 100 KB path is quoted with the URL clipped.
      _, e = pcall(bluexp.job, string.rep("j", 100000))
      print(e.provider, e.status ~= nil, #e.message < 1000)
    ]])
    assert.are.equal("usage\ttrue\nusage\ttrue\nusage\ttrue\nbluexp\ttrue\ttrue\n", out)
  end)
end)

describe("errors about a vendor task", function()
  it("carry provider, task_id and status", function()
    local out = ok([[
      local _, e = pcall(redpanda.mount_task, 99)
      print(e.kind, e.provider, e.task_id, math.type(e.task_id), e.status)
      _, e = pcall(bluexp.job, "no-such-job")
      print(e.kind, e.provider, e.task_id, e.status)
      _, e = pcall(astra.task, "no-such-task")
      print(e.kind, e.provider, e.task_id, e.status)
      sim.fault({ provider = "keycard", kind = "body", body = "null" })
      _, e = pcall(keycard.catalog_task, "z", "t9")
      print(e.kind, e.provider, e.task_id, e.status)
    ]])
    assert.are.equal("not_found\tredpanda\t99\tinteger\t404\n"
      .. "not_found\tbluexp\tno-such-job\t404\n"
      .. "not_found\tastra\tno-such-task\t404\n"
      .. "decode\tkeycard\tt9\t200\n", out)
  end)

  it("the Redpanda advice on a task gone early gives wait options that work", function()
    local out = ok([[
      sim.task({ provider = "redpanda", id = 13, mode = "poll",
                 steps = { "STATE_PREPARING", "gone" } })
      -- Without the topic list, an early state is all there is to go by.
      sim.fault({ kind = "server_error", method = "GET", path = "/v1/topics", count = -1 })
      redpanda.mount_task(13)
      local _, e = pcall(redpanda.mount_task, 13)
      local advice = e.message:match("wait options ([^)]+)%)")
      print(e.kind, advice)
      local opts = assert(load("return { " .. advice .. " }"))()
      sim.task({ provider = "redpanda", id = 14, steps = { "STATE_FINISHED" } })
      print(redpanda.mount_task(14):wait(opts).state)
    ]])
    assert.are.equal('not_found\tinterval = "1s", max_interval = "1s"\nSTATE_FINISHED\n', out)
  end)
end)
