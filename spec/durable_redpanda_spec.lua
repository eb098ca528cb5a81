-- Durable Redpanda calls: a journaled run killed around redpanda.mount_topics and started again
-- never mounts twice. In doubt (the POST sent, its answer never journaled) the resume reconciles
-- with the mount-task list and the topic list: one task of the same type for the same topics is
-- adopted; none, and topics not mounted, sends the POST again once; two candidates, or a call
-- the runbook now makes differently, stop with exit 6.
local H = require("harness")
local backend = require("backend")

local MOUNT = "/v1/cloud-storage/topics/mount"

-- Mounts the topics of $TOPICS (comma-separated; the run's key is the script and its arguments,
-- so a changed call comes through the environment), prints the Task, then holds on its first
-- attempt when given "hold" (to be killed once the answer is journaled) and waits for the
-- mount's end.
local RUNBOOK = [==[
local topics = {}
for t in os.getenv("TOPICS"):gmatch("[^,]+") do topics[#topics + 1] = t end
local t = taskrun.redpanda.mount_topics(topics)
print("mounted " .. tostring(t.id) .. " " .. tostring(t.state))
io.stdout:flush()
if arg[1] == "hold" and taskrun.run.attempt == 1 then taskrun.sleep(60) end
local done = taskrun.wait(t, { interval = 0.05, max_interval = 0.1, timeout = "30s" })
print("done " .. tostring(done.status))
]==]

-- The simulator's admin API.
local function admin(sim, method, path, body)
  return (sim.call(method, path, body))
end

-- The mount POSTs in the simulator's request log.
local function mount_posts(sim)
  local n = 0
  for _, r in ipairs(admin(sim, "GET", "/_sim/requests?method=POST").requests) do
    if r.path == MOUNT then n = n + 1 end
  end
  return n
end

local function redpanda_tasks(sim)
  local list = {}
  for _, t in ipairs(admin(sim, "GET", "/_sim/tasks").tasks) do
    if t.provider == "redpanda" then list[#list + 1] = t end
  end
  return list
end

-- A simulator, a state directory and a runbook file of their own (a fresh run key).
local function setup()
  local s = { sim = H.start_sim({ "--speed", "4" }) }
  s.script = H.write_tmp(RUNBOOK, ".lua")
  s.env = H.sim_env(s.sim, backend.env(H.tmpdir()))
  s.env.TOPICS = "orders"
  function s.run(args, env)
    local e = {}
    for k, v in pairs(s.env) do e[k] = v end
    for k, v in pairs(env or {}) do e[k] = v end
    return H.run({ script_path = s.script, args = args, env = e })
  end
  function s.spawn(args)
    return H.spawn({ script_path = s.script, args = args, env = s.env })
  end
  function s.fault(rule) admin(s.sim, "POST", "/_sim/faults", rule) end
  return s
end

-- Runs the runbook while the mount POST fails with a 503 that replaces the answer (nothing is
-- created; Redpanda's answer says nothing about what happened): the call is in doubt and the
-- run is left resumable.
local function in_doubt_with_nothing_created(s)
  s.fault({ kind = "server_error", method = "POST", path = MOUNT, count = 1 })
  local r = s.run()
  assert.are_not.equal(0, r.code, r.stderr)
  assert.are.equal(1, mount_posts(s.sim))
  assert.are.same({}, redpanda_tasks(s.sim))
end

describe("redpanda.mount_topics in a journaled run", function()
  local s
  after_each(function()
    if s then s.sim.stop() end
    s = nil
  end)

  it("killed while its POST is in flight is adopted on resume: one POST", function()
    s = setup()
    -- The simulator creates the task, then holds the answer: the mount exists, unanswered.
    s.fault({ kind = "latency", method = "POST", path = MOUNT, ms = 20000 })
    local p = s.spawn()
    for _ = 1, 2000 do
      if #redpanda_tasks(s.sim) > 0 then break end
      os.execute("sleep 0.01")   -- a poll interval: the event is the task's creation
    end
    assert.are.equal(1, #redpanda_tasks(s.sim))
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)
    admin(s.sim, "DELETE", "/_sim/faults")

    local r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("its answer was never recorded; adopted", r.stderr, 1, true)
    assert.matches("done succeeded", r.stdout, 1, true)
    assert.are.equal(1, mount_posts(s.sim))
  end)

  it("killed after its answer was journaled sends nothing on resume and reads the Task again",
    function()
    s = setup()
    local p = s.spawn({ "hold" })
    local first = p:line()
    local id = first:match("^mounted (%d+) ")
    assert.is_truthy(id, first)
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)
    admin(s.sim, "DELETE", "/_sim/requests")

    local r = s.run({ "hold" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^mounted " .. id .. " ", r.stdout)
    assert.matches("done succeeded", r.stdout, 1, true)
    assert.are.equal(0, mount_posts(s.sim))
    -- Refreshed: the resume read the task it created (a GET of it, 404 once it finished).
    local gets = admin(s.sim, "GET", "/_sim/requests?method=GET").requests
    assert.are.equal("/v1/cloud-storage/mount-tasks/" .. id, gets[1].path)
  end)

  it("in doubt with nothing created is sent again, once: two POSTs in all", function()
    s = setup()
    in_doubt_with_nothing_created(s)
    local r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("sending the request again, once", r.stderr, 1, true)
    assert.matches("done succeeded", r.stdout, 1, true)
    assert.are.equal(2, mount_posts(s.sim))
    -- Finished: a third start is a new run, and the topic exists (a second POST, a new run's).
    assert.are.equal(0, s.run().code)
  end)

  it("in doubt with two candidate tasks stops with exit 6 naming both", function()
    s = setup()
    in_doubt_with_nothing_created(s)
    -- Two mounts of "orders" that no journaled step created (the simulator's default topics).
    for _, id in ipairs({ 41, 42 }) do
      admin(s.sim, "POST", "/_sim/tasks", { provider = "redpanda", id = id,
        steps = { "STATE_PLANNED" } })
    end
    local r = s.run()
    assert.are.equal(6, r.code, r.stderr)
    assert.matches("in doubt: an operator must decide", r.stderr, 1, true)
    assert.matches("the vendor has 2 candidates", r.stderr, 1, true)
    assert.matches("mount task 41 (STATE_PLANNED, mount of orders)", r.stderr, 1, true)
    assert.matches("mount task 42 (STATE_PLANNED, mount of orders)", r.stderr, 1, true)
    assert.are.equal(1, mount_posts(s.sim))
  end)

  it("resumed with other topics while the first mount is in doubt stops with exit 6 saying "
    .. "what differed", function()
    s = setup()
    in_doubt_with_nothing_created(s)
    local r = s.run(nil, { TOPICS = "payments" })
    assert.are.equal(6, r.code, r.stderr)
    assert.matches("in doubt: an operator must decide", r.stderr, 1, true)
    assert.matches('argument 1[1]: "orders" (journal) vs "payments" (now)', r.stderr, 1, true)
    assert.are.equal(1, mount_posts(s.sim))
  end)
end)

-- Changes task $ID: update_mount_task($ID, "prepare") or delete_mount_task($ID), per $OP.
local CHANGE = [==[
local id = math.tointeger(tonumber(os.getenv("ID")))
if os.getenv("OP") == "update" then
  print("updated " .. tostring(taskrun.redpanda.update_mount_task(id, "prepare").state))
else
  print("deleted " .. tostring(taskrun.redpanda.delete_mount_task(id)))
end
]==]

describe("in doubt, a resumed run", function()
  local s
  after_each(function()
    if s then s.sim.stop() end
    s = nil
  end)

  -- Like setup(), with CHANGE, and task 50 (poll mode: it moves only when read).
  local function change(op)
    s = setup()
    s.script = H.write_tmp(CHANGE, ".lua")
    s.env.OP, s.env.ID = op, "50"
    admin(s.sim, "POST", "/_sim/tasks", { provider = "redpanda", id = 50, mode = "poll" })
    s.fault({ kind = "server_error", method = op == "update" and "POST" or "DELETE",
      path = "/v1/cloud-storage/mount-tasks/50", count = 1 })
    assert.are_not.equal(0, s.run().code)
  end

  local function requests(method)
    local n = 0
    for _, r in ipairs(admin(s.sim, "GET", "/_sim/requests?method=" .. method).requests) do
      if r.path == "/v1/cloud-storage/mount-tasks/50" then n = n + 1 end
    end
    return n
  end

  it("adopts a mount whose topics the topic list already shows: its task is gone", function()
    s = setup()
    in_doubt_with_nothing_created(s)
    admin(s.sim, "POST", "/_sim/topics", "orders")
    local r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("adopted no task: the mount finished", r.stderr, 1, true)
    assert.matches("mounted nil STATE_FINISHED", r.stdout, 1, true)
    assert.are.equal(1, mount_posts(s.sim))
  end)

  it("sends update_mount_task again when the task shows no sign of the action", function()
    change("update")
    local r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("sending the request again, once", r.stderr, 1, true)
    assert.matches("updated STATE_PREPARING", r.stdout, 1, true)
    assert.are.equal(2, requests("POST"))
  end)

  it("adopts update_mount_task when the task is at or past the action's state", function()
    change("update")
    -- The action took effect (as if the lost answer had been a 201).
    s.sim.call("POST", "/v1/cloud-storage/mount-tasks/50", { action = "ACTION_PREPARE" },
      "sim-redpanda-token")
    local r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("adopted mount task 50, now in STATE_PREPARING: the ACTION_PREPARE took "
      .. "effect", r.stderr, 1, true)
    assert.are.equal(2, requests("POST"))
  end)

  it("cannot tell whether update_mount_task acted once the task is gone: exit 6", function()
    change("update")
    admin(s.sim, "DELETE", "/_sim/tasks")
    local r = s.run()
    assert.are.equal(6, r.code, r.stderr)
    assert.matches("the vendor cannot tell whether it acted on it", r.stderr, 1, true)
    assert.are.equal(1, requests("POST"))
  end)

  it("adopts delete_mount_task once the task is gone, and sends it again while it is there",
    function()
    change("delete")
    local r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("sending the request again, once", r.stderr, 1, true)
    assert.matches("deleted true", r.stdout, 1, true)
    assert.are.equal(2, requests("DELETE"))
    s.sim.stop()

    change("delete")
    admin(s.sim, "DELETE", "/_sim/tasks")
    r = s.run()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("adopted mount task 50 is gone: deleted", r.stderr, 1, true)
    assert.are.equal(1, requests("DELETE"))
  end)
end)
