-- taskrun-sim Redpanda topic list (GET /v1/topics): given seeded topics and mount or unmount
-- tasks, a client paging through the list sees exactly the topics the tasks' outcomes imply.
local H = require("harness")
local S = require("simspec")
local cjson = require("cjson")

local LOCALS = [[
local auth = { Authorization = "Bearer sim-redpanda-token" }
local tasks = base .. "/v1/cloud-storage/mount-tasks"
local function page(query)
  return http.get(base .. "/v1/topics", { headers = auth, query = query })
end
-- Every topic name, following next_page_token; also how many pages it took.
local function names(query)
  local out, pages, token = {}, 0, nil
  repeat
    local q = {}
    for k, v in pairs(query or {}) do q[k] = v end
    q.page_token = token
    local res = page(q)
    assert(res.status == 200, res.status .. " " .. res.body)
    local body = res:json()
    for _, t in ipairs(body.topics) do out[#out + 1] = t.name end
    pages, token = pages + 1, body.next_page_token
  until token == ""
  return { names = out, pages = pages }
end
local function start(kind, body)
  local res = http.post(base .. "/v1/cloud-storage/topics/" .. kind, { headers = auth,
    json = body })
  assert(res.status == 200, res.body)
  return res:json().mount_task_id
end
local function state(id)
  local res = http.get(tasks .. "/" .. id, { headers = auth })
  return res.status == 200 and res:json().task.state or res.status
end
]]

local run = S.runner(LOCALS)

describe("taskrun-sim Redpanda topics", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() S.stop(sim) end)

  it("lists seeded topics sorted by name, filtered by filter.name_contains", function()
    local out = run(sim, [[
      emit(page():json())
      emit(admin("POST", "/_sim/topics", { "payments", { name = "orders", partition_count = 6 },
        "orders-restored" }))
      emit(page():json())
      emit(names({ ["filter.name_contains"] = "orders" }).names)
      emit(names({ ["filter.name_contains"] = "nothing" }).names)
      emit(seen(http.delete(base .. "/_sim/topics?name=payments")).status)
      emit(seen(http.delete(base .. "/_sim/topics?name=payments")).status)
      emit(admin("GET", "/_sim/topics").topics)
      emit(http.get(base .. "/v1/topics").status)
      emit(seen(http.post(base .. "/v1/topics", { headers = auth, json = {} })).status)
    ]])
    assert.are.same({ topics = {}, next_page_token = "" }, out[1])
    assert.are.same({ topics = { "payments", "orders", "orders-restored" } }, out[2])
    assert.are.same({ "orders", "orders-restored", "payments" },
      { out[3].topics[1].name, out[3].topics[2].name, out[3].topics[3].name })
    assert.are.same({ name = "orders", internal = false, partition_count = 6,
      replication_factor = 3 }, out[3].topics[1])
    assert.are.equal("", out[3].next_page_token)
    assert.are.same({ "orders", "orders-restored" }, out[4])
    assert.are.same({}, out[5])
    assert.are.same({ 200, 404 }, { out[6], out[7] })
    assert.are.equal(2, #out[8])
    assert.are.equal(401, out[9])
    assert.are.equal(405, out[10])
  end)

  it("pages by page_size and page_token, 100 to a page by default, -1 for all", function()
    local out = run(sim, [[
      local seed = {}
      for i = 1, 250 do seed[#seed + 1] = string.format("topic-%03d", i) end
      admin("POST", "/_sim/topics", seed)
      local by7 = names({ page_size = "7" })
      emit({ pages = by7.pages, n = #by7.names, first = by7.names[1], last = by7.names[250] })
      local default = names()
      emit({ pages = default.pages, n = #default.names })
      local all = page({ page_size = "-1" }):json()
      emit({ n = #all.topics, next = all.next_page_token })
      local first = page({ page_size = "3", ["filter.name_contains"] = "-24" }):json()
      emit(first)
      -- A topic removed between pages does not shift the next page.
      admin("DELETE", "/_sim/topics?name=topic-242")
      emit(page({ page_size = "3", ["filter.name_contains"] = "-24",
        page_token = first.next_page_token }):json())
      for _, q in ipairs({ { page_size = "abc" }, { page_size = "1001" }, { page_size = "-2" },
                           { page_token = "not-a-token" } }) do
        emit(seen(page(q)))
      end
    ]])
    assert.are.same({ pages = 36, n = 250, first = "topic-001", last = "topic-250" }, out[1])
    assert.are.same({ pages = 3, n = 250 }, out[2])
    assert.are.same({ n = 250, next = "" }, out[3])
    assert.are.same({ "topic-240", "topic-241", "topic-242" },
      { out[4].topics[1].name, out[4].topics[2].name, out[4].topics[3].name })
    assert.are_not.equal("", out[4].next_page_token)
    assert.are.same({ "topic-243", "topic-244", "topic-245" },
      { out[5].topics[1].name, out[5].topics[2].name, out[5].topics[3].name })
    for i = 6, 9 do
      assert.are.equal(400, out[i].status)
      assert.are.equal("INVALID_ARGUMENT", out[i].body.code)
    end
  end)

  it("creates a mount's topics (alias or source name) when the task reaches CUT_OVER, and keeps them after it is gone", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      local id = start("mount", { { source_topic_reference = "orders", alias = "orders-restored" },
        { source_topic_reference = "payments" } })
      local seen_states = {}
      repeat
        local s = state(id)
        seen_states[#seen_states + 1] = { state = s, topics = names().names }
      until s == 404
      emit(seen_states)
    ]])
    local states = out[1]
    assert.are.same({ "STATE_PLANNED", "STATE_PREPARING", "STATE_PREPARED", "STATE_EXECUTING",
      "STATE_EXECUTED", "STATE_CUT_OVER", 404 }, (function()
        local s = {}
        for i, v in ipairs(states) do s[i] = v.state end
        return s
      end)())
    for i = 1, 5 do assert.are.same({}, states[i].topics, states[i].state) end
    assert.are.same({ "orders-restored", "payments" }, states[6].topics)
    assert.are.same({ "orders-restored", "payments" }, states[7].topics)
  end)

  it("removes an unmount's topics when it finishes, and only those", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      admin("POST", "/_sim/topics", { "a", "b", "c" })
      local id = start("unmount", { "a", "b" })
      local before
      repeat
        local s = state(id)
        if s == "STATE_EXECUTED" then before = names().names end
      until s == "STATE_CUT_OVER"
      emit(before)
      emit(names().names)
    ]])
    assert.are.same({ "a", "b", "c" }, out[1])
    assert.are.same({ "c" }, out[2])
  end)

  it("creates nothing for a cancelled mount or one deleted early; a finished one deleted keeps its topics", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      local cancelled = start("mount", { { source_topic_reference = "cancelled" } })
      state(cancelled)
      state(cancelled)
      http.post(tasks .. "/" .. cancelled, { headers = auth, json = { action = "ACTION_CANCEL" } })
      repeat until state(cancelled) == "STATE_CANCELLED"
      local early = start("mount", { { source_topic_reference = "early" } })
      state(early)
      emit(http.delete(tasks .. "/" .. early, { headers = auth }).status)
      -- ACTION_FINISH jumps to CUT_OVER; the DELETE comes before anyone reads the task.
      local finished = start("mount", { { source_topic_reference = "finished" } })
      http.post(tasks .. "/" .. finished, { headers = auth, json = { action = "ACTION_FINISH" } })
      emit(http.delete(tasks .. "/" .. finished, { headers = auth }).status)
      emit(names().names)
    ]])
    assert.are.same({ 202, 202 }, { out[1], out[2] })
    assert.are.same({ "finished" }, out[3])
  end)

  it("shows a time-based mount's topics once it has finished, without anyone reading the task", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { step_ms = 20 })
      start("mount", { { source_topic_reference = "timed" } })
      local polls = 0
      repeat
        polls = polls + 1
        taskrun.sleep("20ms")
      until #names().names == 1 or polls == 200
      emit(names().names)
      emit(admin("GET", "/_sim/tasks").tasks[1].step)
    ]])
    assert.are.same({ "timed" }, out[1])
    assert.is_true(out[2] >= 5)
  end)

  it("seeds topics from a scenario file and seeds them again on reset", function()
    local path = H.write_tmp(cjson.encode({ topics = { "seeded-a", { name = "seeded-b" } } }),
      ".json")
    local other = H.start_sim({ "--scenario", path })
    local out = run(other, [[
      emit(names().names)
      admin("DELETE", "/_sim/topics")
      emit(names().names)
      admin("POST", "/_sim/reset")
      emit(names().names)
    ]])
    S.stop(other)
    os.remove(path)
    assert.are.same({ "seeded-a", "seeded-b" }, out[1])
    assert.are.same({}, out[2])
    assert.are.same({ "seeded-a", "seeded-b" }, out[3])
  end)
end)
