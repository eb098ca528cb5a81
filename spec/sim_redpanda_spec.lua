-- taskrun-sim, Redpanda data plane: mount tasks as the vendor documents them, driven from a
-- runbook with taskrun.http. Tasks advance one state per poll, so nothing here waits on a clock.
local H = require("harness")
local S = require("simspec")

local run = S.runner([[
local auth = { Authorization = "Bearer sim-redpanda-token" }
local tasks = base .. "/v1/cloud-storage/mount-tasks"
]])

describe("taskrun-sim Redpanda", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() S.stop(sim) end)

  it("walks a mount task through its states one per poll, then answers 404 after CUT_OVER", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "redpanda", id = 7, mode = "poll" })
      for _ = 1, 8 do emit(seen(http.get(tasks .. "/7", { headers = auth }))) end
    ]])
    local states = {}
    for i = 1, 6 do
      assert.are.equal(200, out[i].status)
      assert.are.equal("application/json", out[i].headers["content-type"])
      assert.are.equal(7, out[i].body.task.id)
      assert.are.equal("TYPE_MOUNT", out[i].body.task.type)
      states[i] = out[i].body.task.state
    end
    assert.are.same({ "STATE_PLANNED", "STATE_PREPARING", "STATE_PREPARED", "STATE_EXECUTING",
      "STATE_EXECUTED", "STATE_CUT_OVER" }, states)
    for i = 7, 8 do
      assert.are.equal(404, out[i].status)
      assert.are.equal("NOT_FOUND", out[i].body.code)
      assert.are.equal("string", type(out[i].body.message))
      assert.are.same({}, out[i].body.details)
    end
  end)

  it("answers the bare task object when the task, the settings or /v1alpha2 select it", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "redpanda", id = 3, mode = "poll", shape = "bare",
        steps = { "STATE_EXECUTING" } })
      emit(http.get(tasks .. "/3", { headers = auth }):json())
      admin("POST", "/_sim/config", { redpanda_body = "bare" })
      emit(http.get(tasks, { headers = auth }):json())
      admin("POST", "/_sim/config", { redpanda_body = "wrapped" })
      admin("POST", "/_sim/tasks", { provider = "redpanda", id = 4, steps = { "STATE_PLANNED" } })
      emit(http.get(tasks .. "/4", { headers = auth }):json())
      emit(http.get(base .. "/v1alpha2/cloud-storage/mount-tasks/4", { headers = auth }):json())
    ]])
    assert.are.equal(3, out[1].id)
    assert.are.equal("STATE_EXECUTING", out[1].state)
    assert.is_nil(out[1].task)
    assert.are.equal(3, out[2][1].id)
    assert.are.equal(4, out[3].task.id)
    assert.are.equal(4, out[4].id)
    assert.are.equal("STATE_PLANNED", out[4].state)
  end)

  it("mounts from a bare JSON array, answers {mount_task_id}, and the task runs on its own", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      local res = http.post(base .. "/v1/cloud-storage/topics/mount", { headers = auth,
        body = '[{"source_topic_reference":"orders-archive","alias":"orders"}]' })
      emit(seen(res))
      local id = res:json().mount_task_id
      emit(http.get(tasks .. "/" .. id, { headers = auth }):json())
      emit(http.get(tasks .. "/" .. id, { headers = auth }):json())
      emit(http.get(tasks, { headers = auth }):json())
    ]])
    assert.are.equal(200, out[1].status)
    assert.are.equal("number", type(out[1].body.mount_task_id))
    local task = out[2].task
    assert.are.equal(out[1].body.mount_task_id, task.id)
    assert.are.equal("TYPE_MOUNT", task.type)
    assert.are.equal("STATE_PLANNED", task.state)
    assert.are.same({ { topic_reference = "orders", source_topic_reference = "orders-archive" } },
      task.topics)
    assert.are.equal("STATE_PREPARING", out[3].task.state)
    assert.are.equal(1, #out[4].tasks)
    assert.are.equal(task.id, out[4].tasks[1].id)
  end)

  it("unmounts from a bare array of names, with an empty source_topic_reference", function()
    local out = run(sim, [[
      local res = http.post(base .. "/v1/cloud-storage/topics/unmount", { headers = auth,
        json = { "orders", "payments" } })
      emit(seen(res))
      emit(http.get(tasks .. "/" .. res:json().mount_task_id, { headers = auth }):json())
    ]])
    assert.are.equal(200, out[1].status)
    assert.are.equal("TYPE_UNMOUNT", out[2].task.type)
    assert.are.same({ { topic_reference = "orders", source_topic_reference = "" },
      { topic_reference = "payments", source_topic_reference = "" } }, out[2].task.topics)
  end)

  it("rejects malformed mount and unmount bodies with 400 INVALID_ARGUMENT", function()
    local out = run(sim, [[
      local bodies = {
        { "mount", '{"topics":[{"source_topic_reference":"t"}]}' }, { "mount", "[]" },
        { "mount", "[{\"alias\":\"x\"}]" }, { "mount", "[{" }, { "unmount", '["bad name!"]' },
        { "unmount", '["a","a"]' }, { "unmount", "" },
      }
      for _, b in ipairs(bodies) do
        emit(seen(http.post(base .. "/v1/cloud-storage/topics/" .. b[1], { headers = auth,
          body = b[2] })))
      end
    ]])
    assert.are.equal(7, #out)
    for _, o in ipairs(out) do
      assert.are.equal(400, o.status)
      assert.are.equal("INVALID_ARGUMENT", o.body.code)
    end
  end)

  it("cancels from PREPARING through CANCELING to CANCELLED, and refuses to cancel a PLANNED task", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "redpanda", id = 1, mode = "poll",
        steps = { "STATE_PREPARING", "STATE_PREPARED" } })
      admin("POST", "/_sim/tasks", { provider = "redpanda", id = 2, mode = "poll" })
      emit(seen(http.post(tasks .. "/1", { headers = auth, json = { action = "ACTION_CANCEL" } })))
      emit(http.get(tasks .. "/1", { headers = auth }):json().task.state)
      emit(http.get(tasks .. "/1", { headers = auth }):json().task.state)
      emit(http.get(tasks .. "/1", { headers = auth }):json().task.state)
      emit(seen(http.post(tasks .. "/2", { headers = auth, json = { action = "ACTION_CANCEL" } })))
      emit(seen(http.post(tasks .. "/2", { headers = auth, json = { action = "ACTION_JUMP" } })))
      emit(seen(http.post(tasks .. "/2", { headers = auth, json = { action = "ACTION_EXECUTE" } })))
      emit(http.get(tasks .. "/2", { headers = auth }):json().task.state)
      emit(seen(http.post(tasks .. "/99", { headers = auth, json = { action = "ACTION_CANCEL" } })))
    ]])
    assert.are.equal(201, out[1].status)
    assert.are.same({}, out[1].body)
    assert.are.same({ "STATE_CANCELING", "STATE_CANCELLED", "STATE_CANCELLED" },
      { out[2], out[3], out[4] })
    assert.are.equal(400, out[5].status)
    assert.are.equal("FAILED_PRECONDITION", out[5].body.code)
    assert.are.equal(400, out[6].status)
    assert.are.equal("INVALID_ARGUMENT", out[6].body.code)
    assert.are.equal(201, out[7].status)
    assert.are.equal("STATE_EXECUTING", out[8])
    assert.are.equal(404, out[9].status)
  end)

  it("deletes a task with 202 {}, after which it is a 404", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "redpanda", id = 0, mode = "poll" })
      emit(http.get(tasks .. "/0", { headers = auth }).status)
      emit(seen(http.delete(tasks .. "/0", { headers = auth })))
      emit(seen(http.get(tasks .. "/0", { headers = auth })))
      emit(http.delete(tasks .. "/0", { headers = auth }).status)
    ]])
    assert.are.equal(200, out[1])
    assert.are.equal(202, out[2].status)
    assert.are.same({}, out[2].body)
    assert.are.equal(404, out[3].status)
    assert.are.equal(404, out[4])
  end)

  it("answers 401 UNAUTHENTICATED with WWW-Authenticate for a missing or wrong token", function()
    local out = run(sim, [[
      emit(seen(http.get(tasks .. "/7")))
      emit(seen(http.get(tasks .. "/7", { headers = { Authorization = "Bearer nope" } })))
      emit(seen(http.post(base .. "/v1/cloud-storage/topics/mount", { body = "[]" })))
    ]])
    for _, o in ipairs(out) do
      assert.are.equal(401, o.status)
      assert.are.equal("UNAUTHENTICATED", o.body.code)
      assert.are.same({}, o.body.details)
      assert.are.equal(o.body.message, o.headers["www-authenticate"])
    end
  end)

  it("answers 404, 405 and 400 in the google.rpc envelope", function()
    local out = run(sim, [[
      emit(seen(http.get(base .. "/v1/cloud-storage/nothing", { headers = auth })))
      emit(seen(http.get(base .. "/v1beta9/cloud-storage/mount-tasks", { headers = auth })))
      emit(seen(http.request({ method = "PUT", url = tasks .. "/7", headers = auth, body = "" })))
      emit(seen(http.get(base .. "/v1/cloud-storage/topics/mount", { headers = auth })))
      emit(seen(http.get(tasks .. "/seven", { headers = auth })))
      emit(seen(http.get(tasks .. "/99999999999", { headers = auth })))
    ]])
    assert.are.equal(404, out[1].status)
    assert.are.equal("NOT_FOUND", out[1].body.code)
    table.remove(out, 1)
    assert.are.equal(404, out[1].status)
    assert.are.equal("NOT_FOUND", out[1].body.code)
    assert.are.equal(405, out[2].status)
    assert.are.equal("UNIMPLEMENTED", out[2].body.code)
    assert.are.equal("GET, POST, DELETE", out[2].headers.allow)
    assert.are.equal(405, out[3].status)
    assert.are.equal("POST", out[3].headers.allow)
    assert.are.equal(400, out[4].status)
    assert.are.equal("INVALID_ARGUMENT", out[4].body.code)
    assert.are.equal(400, out[5].status)
  end)
end)
