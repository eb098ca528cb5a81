-- taskrun.redpanda against the simulator: the Task it returns and what it sent.
local H = require("harness")

local function ok(script, opts)
  local r = H.run_sim("local redpanda = taskrun.redpanda\n" .. script, opts)
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout, r
end

describe("taskrun.redpanda", function()
  it("reads a mount task in the {task: ...} shape into a Task, sending the bearer token", function()
    local out = ok([[
      sim.task({ provider = "redpanda", id = 7, steps = { "STATE_EXECUTING" } })
      local t = redpanda.mount_task(7)
      print(t.provider, math.type(t.id), t.id, t.state, t.status, t.done, t.ok, t.progress)
      print(t.raw.type, tostring(t))
      local req = sim.requests("/mount-tasks/7")[1]
      print(req.method, req.path, req.headers.authorization)
    ]])
    assert.are.equal("redpanda\tinteger\t7\tSTATE_EXECUTING\trunning\tfalse\tfalse\tnil\n"
      .. "TYPE_MOUNT\tredpanda task 7 (STATE_EXECUTING)\n"
      .. "GET\t/v1/cloud-storage/mount-tasks/7\tBearer [redacted]\n", out)
  end)

  -- The client reuses one header table per token (stdlib/taskrun/provider.lua headers_for):
  -- the client's `headers` must still be read as they are at each request.
  it("sends a client's headers as they are at each request: added, changed, taken out",
    function()
    local out = ok([[
      sim.task({ provider = "redpanda", id = 9, steps = { "STATE_EXECUTING" } })
      local own = { ["X-Team"] = "ops", Accept = "application/vnd.test+json" }
      local c = redpanda.client({ url = os.getenv("REDPANDA_DATAPLANE_URL"),
                                  token = os.getenv("REDPANDA_TOKEN"), headers = own })
      local function show(i)
        local h = sim.requests("/mount-tasks/9")[i].headers
        print(h["x-team"], h["x-more"], h.accept, h.authorization)
      end
      c:mount_task(9)
      show(1)
      own["X-Team"], own["X-More"], own.Accept = "dev", "1", nil
      c:mount_task(9)
      show(2)
      own["X-Team"], own["X-More"] = nil, nil
      own.Authorization = "Bearer not-this"
      c:mount_task(9)
      show(3)
      own.Authorization = nil
      c:mount_task(9)
      show(4)
    ]])
    assert.are.equal("ops\tnil\tapplication/vnd.test+json\tBearer [redacted]\n"
      .. "dev\t1\tapplication/json\tBearer [redacted]\n"
      .. "nil\tnil\tapplication/json\tBearer [redacted]\n"
      .. "nil\tnil\tapplication/json\tBearer [redacted]\n", out)
  end)

  it("reads the bare object shape the same way", function()
    local out = ok([[
      sim.task({ provider = "redpanda", id = 8, shape = "bare", steps = { "STATE_PREPARED" } })
      local t = redpanda.mount_task(8)
      print(t.id, t.state, t.status)
    ]])
    assert.are.equal("8\tSTATE_PREPARED\trunning\n", out)
  end)

  it("maps every state, and warns once per task and state about an unknown one", function()
    local out, r = ok([[
      local states = { "STATE_PLANNED", "STATE_PREPARING", "STATE_PREPARED", "STATE_EXECUTING",
        "STATE_EXECUTED", "STATE_CUT_OVER", "STATE_CANCELING", "STATE_CANCELLED",
        "STATE_WEIRD", "STATE_WEIRD", "STATE_FINISHED" }
      sim.task({ provider = "redpanda", id = 9, mode = "poll", steps = states })
      for _ = 1, #states do
        local t = redpanda.mount_task(9)
        io.write(t.status, t.done and "!" or "", " ")
      end
    ]])
    assert.are.equal("pending running running running running running running cancelled! "
      .. "unknown unknown succeeded! ", out)
    local _, warnings = r.stderr:gsub("unknown task state", "")
    assert.are.equal(1, warnings)
    assert.matches("state=STATE_WEIRD", r.stderr, 1, true)
  end)

  it("reads a 404 after STATE_CUT_OVER (or EXECUTED) as finished, verified by topics", function()
    local out = ok([[
      -- "gone": the simulator deletes the task, as Redpanda does once it finished
      sim.task({ provider = "redpanda", id = 11, mode = "poll", steps = { "STATE_CUT_OVER", "gone" } })
      print(redpanda.mount_task(11).state)
      local t = redpanda.mount_task(11)
      print(t.state, t.status, t.done, t.ok, t.message)
      sim.task({ provider = "redpanda", id = 12, mode = "poll", steps = { "STATE_EXECUTED", "gone" } })
      redpanda.mount_task(12)
      print(redpanda.mount_task(12).status)
    ]])
    assert.are.equal("STATE_CUT_OVER\nSTATE_FINISHED\tsucceeded\ttrue\ttrue\t"
      .. "finished: the task was deleted after STATE_CUT_OVER; verified by the topic list: "
      .. "orders exists\n"
      .. "succeeded\n", out)
  end)

  it("infers no success from a 404 after an early state without the topic list", function()
    local out = ok([[
      sim.task({ provider = "redpanda", id = 13, mode = "poll", steps = { "STATE_PREPARING", "gone" } })
      sim.fault({ kind = "server_error", method = "GET", path = "/v1/topics", count = -1 })
      redpanda.mount_task(13)
      local err = select(2, pcall(redpanda.mount_task, 13))
      print(err.kind, err.status)
      print(err.message)
    ]])
    assert.matches("^not_found\t404\n", out)
    assert.matches("NOT_FOUND", out, 1, true)
    assert.matches("last seen in STATE_PREPARING and is gone", out, 1, true)
  end)

  it("raises not_found for a 404 when nothing was seen before, in Redpanda's words", function()
    local out = ok([[
      local ok, err = pcall(redpanda.mount_task, 404404)
      print(err.kind, err.status, err.provider)
      print(err.message:find("NOT_FOUND", 1, true) ~= nil)
    ]])
    assert.are.equal("not_found\t404\tredpanda\ntrue\n", out)
  end)

  it("mounts with a bare JSON array and returns the Task of mount_task_id", function()
    local out = ok([[
      local t = redpanda.mount_topics({ "orders", { source_topic_reference = "logs", alias = "l" } })
      print(math.type(t.id), t.state, t.raw.type)
      local post = sim.requests("/topics/mount")[1]
      print(post.method, post.body)
      local get = sim.requests("/mount-tasks/" .. t.id)[1]
      print(get.method)
    ]])
    assert.matches("^integer\tSTATE_%u+\tTYPE_MOUNT\n", out)
    assert.matches('POST\t[{"source_topic_reference":"orders"},'
      .. '{"alias":"l","source_topic_reference":"logs"}]\nGET\n', out, 1, true)
  end)

  it("unmounts with a bare array of names", function()
    local out = ok([[
      local t = redpanda.unmount_topics({ "orders", "logs" })
      print(t.raw.type, sim.requests("/topics/unmount")[1].body)
    ]])
    assert.are.equal('TYPE_UNMOUNT\t["orders","logs"]\n', out)
  end)

  it("lists mount tasks", function()
    local out = ok([[
      sim.task({ provider = "redpanda", id = 21 })
      sim.task({ provider = "redpanda", id = 22, shape = "bare" })
      local list = redpanda.mount_tasks()
      print(#list, list[1].id, list[2].id, getmetatable(list[1]) ~= nil)
    ]])
    assert.are.equal("2\t21\t22\ttrue\n", out)
  end)

  it("sends actions as ACTION_* and formats integral ids without a fraction", function()
    local out = ok([[
      sim.task({ provider = "redpanda", id = 31, steps = { "STATE_PREPARED" } })
      local t = redpanda.update_mount_task(31.0, "cancel")
      local post = sim.requests("/mount-tasks/31")[1]
      print(post.method, post.path, post.body, t.id)
      print(select(2, pcall(redpanda.update_mount_task, 31, "explode")).kind)
      print(select(2, pcall(redpanda.mount_task, "seven")).kind)
    ]])
    assert.are.equal('POST\t/v1/cloud-storage/mount-tasks/31\t{"action":"ACTION_CANCEL"}\t31\n'
      .. "usage\nusage\n", out)
  end)

  it("raises auth for a 401 in Redpanda's envelope, naming the token variable; exit 5", function()
    local r = H.run_sim([[
      local c = taskrun.redpanda.client({ token = "wrong-token-123" })
      c:mount_tasks()
    ]])
    assert.are.equal(5, r.code)
    assert.matches("auth: redpanda: GET .* answered 401: UNAUTHENTICATED", r.stderr)
    assert.matches("check REDPANDA_TOKEN", r.stderr, 1, true)
  end)

  it("raises auth for a 403, and http with the page's words for an HTML 503", function()
    local out = ok([[
      sim.fault({ provider = "redpanda", kind = "rate_limit", status = 403, count = 1 })
      local _, e1 = pcall(redpanda.mount_tasks)
      print(e1.kind, e1.status)
      sim.fault({ provider = "redpanda", kind = "server_error", status = 503, count = 1 })
      local _, e2 = pcall(redpanda.mount_tasks)
      print(e2.kind, e2.status, e2.message:find("503 Service Unavailable", 1, true) ~= nil)
    ]])
    assert.are.equal("auth\t403\nhttp\t503\ttrue\n", out)
  end)

  it("raises usage naming REDPANDA_DATAPLANE_URL when it is not set; exit 2", function()
    local r = H.run({ script = "taskrun.redpanda.mount_task(1)",
      env = { REDPANDA_DATAPLANE_URL = false } })
    assert.are.equal(2, r.code)
    assert.matches("REDPANDA_DATAPLANE_URL is not set", r.stderr, 1, true)
  end)
end)
