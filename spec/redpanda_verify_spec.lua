-- Redpanda deletes a mount task once it finishes: a task created or seen in the run that
-- answers 404 is checked against the cluster's topic list. Given this task and these topics,
-- the runbook sees that Task or that error.
local H = require("harness")

local PRELUDE = [[
local redpanda = taskrun.redpanda
local fast = { interval = 0.01, max_interval = 0.05 }
-- Mount task `id` answers 404 from now on, as once Redpanda deleted it.
local function delete_behind(id)
  sim.fault({ kind = "body", status = 404, method = "GET", count = -1,
    path = "/v1/cloud-storage/mount-tasks/" .. id,
    body = '{"code":"NOT_FOUND","message":"mount task not found","details":[]}' })
end
local function task(id, kind, names, steps)
  local topics = {}
  for i, n in ipairs(names) do
    topics[i] = { topic_reference = n, source_topic_reference = kind == "TYPE_MOUNT" and n or "" }
  end
  sim.task({ provider = "redpanda", id = id, mode = "poll", type = kind, topics = topics,
             steps = steps })
end
]]

local run, ok = H.sim_runners(PRELUDE)

describe("a Redpanda mount task gone after an early state", function()
  it("is succeeded when the topic list has its topics, the message saying so", function()
    local out = ok([[
      task(21, "TYPE_MOUNT", { "orders" }, { "STATE_PLANNED", "gone" })
      local t = redpanda.mount_task(21):wait(fast)
      print(t.state, t.status, t.ok, t.verified, t.inferred, getmetatable(t) ~= nil)
      print(t.message)
      print(#sim.requests("/v1/topics"))
    ]])
    assert.are.equal("STATE_FINISHED\tsucceeded\ttrue\ttrue\tnil\ttrue\n"
      .. "finished: the task was deleted after STATE_PLANNED; verified by the topic list: "
      .. "orders exists\n1\n", out)
  end)

  it("created in this run and gone before it was read: its alias is looked for", function()
    local out = ok([[
      sim.topics({ "al", "orders" })
      delete_behind("*")
      local t = redpanda.mount_topics({ { source_topic_reference = "src", alias = "al" },
                                        "orders" })
      print(t.status, t.message)
      local q = {}
      for _, r in ipairs(sim.requests("/v1/topics")) do q[#q + 1] = r.query end
      print(table.concat(q, " "))
    ]])
    assert.are.equal("succeeded\tfinished: the task was deleted before it was read; verified by "
      .. "the topic list: al, orders exist\n"
      .. "filter.name_contains=al filter.name_contains=orders\n", out)
  end)

  it("is not_found with the evidence when its topics are missing; the advice works", function()
    local out = ok([[
      task(22, "TYPE_MOUNT", { "orders", "logs" }, { "STATE_PREPARING" })
      sim.topics("logs")
      local t = redpanda.mount_task(22)
      delete_behind(22)
      local _, e = pcall(t.wait, t, fast)
      print(e.kind, e.status, e.task_id, e.last_state, table.concat(e.missing_topics, ","))
      print(e.message:match("answered 404: .*; (mount task 22 .-) %(not there after"))
      -- The advice, as given: see what is there.
      local call = e.message:match("with (redpanda%.topics%b{})")
      print(call, #assert(load("return " .. call, "advice", "t", { redpanda = redpanda }))())
    ]])
    assert.are.equal("not_found\t404\t22\tSTATE_PREPARING\torders\n"
      .. "mount task 22 is gone (last seen in STATE_PREPARING), and the topic list lacks 1 of "
      .. "its 2 topics: orders; the mount did not finish (cancelled, or deleted before it "
      .. 'finished): see what is there with redpanda.topics{ name_contains = "orders" }, then '
      .. "mount it again\n"
      .. 'redpanda.topics{ name_contains = "orders" }\t0\n', out)
  end)
end)

describe("a Redpanda unmount task gone", function()
  it("is succeeded when its topics are gone from the topic list", function()
    local out = ok([[
      sim.config({ mode = "poll" })
      sim.topics({ "old", "older" })
      local t = redpanda.unmount_topics({ "old" }):wait(fast)
      print(t.state, t.status, t.verified)
      print(t.message)
      print(table.concat(redpanda.topics(), ","))
    ]])
    assert.are.equal("STATE_FINISHED\tsucceeded\ttrue\n"
      .. "finished: the task was deleted after STATE_CUT_OVER; verified by the topic list: "
      .. "old is gone\nolder\n", out)
  end)

  it("is not_found naming the topics still there", function()
    local out = ok([[
      sim.topics("keep")
      task(23, "TYPE_UNMOUNT", { "keep" }, { "STATE_EXECUTING" })
      local t = redpanda.mount_task(23)
      delete_behind(23)
      local _, e = pcall(t.wait, t, fast)
      print(e.kind, e.last_state, table.concat(e.present_topics, ","))
      print(e.message:match("; (unmount task 23 .-) %(not there after"))
    ]])
    assert.are.equal("not_found\tSTATE_EXECUTING\tkeep\n"
      .. "unmount task 23 is gone (last seen in STATE_EXECUTING), and the topic list still has "
      .. "1 of its 1 topics: keep; the unmount did not finish (cancelled, or deleted before it "
      .. 'finished): see what is there with redpanda.topics{ name_contains = "keep" }, then '
      .. "unmount it again\n", out)
  end)
end)

describe("the topic list", function()
  -- 250 topics whose names contain "orders" and sort before it: with Redpanda's default page
  -- of 100, "orders" itself is on the third page.
  local SEED = [[
    local many = {}
    for i = 1, 250 do many[i] = string.format("archive.orders.%03d", i) end
    sim.topics(many)
  ]]

  it("is followed over every page to verify a task", function()
    local out = ok(SEED .. [[
      task(24, "TYPE_MOUNT", { "orders" }, { "STATE_PLANNED", "gone" })
      local t = redpanda.mount_task(24):wait(fast)
      print(t.status, t.verified)
      local reqs = sim.requests("/v1/topics")
      print(#reqs, reqs[1].query, reqs[2].query:match("page_token=%x+") ~= nil,
        reqs[3].query:match("page_token=%x+") ~= nil)
    ]])
    assert.are.equal("succeeded\ttrue\n3\tfilter.name_contains=orders\ttrue\ttrue\n", out)
  end)

  it("is read whole, every page, for a task of more than a few topics", function()
    local out = ok(SEED .. [[
      local names = { "t1", "t2", "t3", "t4", "t5" }
      task(25, "TYPE_MOUNT", names, { "STATE_PLANNED", "gone" })
      local t = redpanda.mount_task(25):wait(fast)
      print(t.status, t.message)
      print(#sim.requests("/v1/topics"))
    ]])
    assert.are.equal("succeeded\tfinished: the task was deleted after STATE_PLANNED; verified "
      .. "by the topic list: t1, t2, t3, t4, t5 exist\n3\n", out)
  end)

  it("is redpanda.topics{ name_contains =, page_size = }: names, every page", function()
    local out = ok(SEED .. [[
      sim.topics({ "orders", "logs" })
      local names = redpanda.topics({ name_contains = "orders.00", page_size = 4 })
      print(#names, names[1], names[#names], #sim.requests("/v1/topics"))
      print(#redpanda.topics(), #redpanda.topics({ name_contains = "nothing" }))
      for _, o in ipairs({ { page_size = 0 }, { page_size = 1.5 }, { name_contains = 7 },
                           { size = 2 }, 5 }) do
        io.write(select(2, pcall(redpanda.topics, o)).kind, " ")
      end
      print()
    ]])
    assert.are.equal("9\tarchive.orders.001\tarchive.orders.009\t3\n252\t0\n"
      .. "usage usage usage usage usage \n", out)
  end)

  it("failing, leaves the 404 after a late state inferred, saying the list could not be read",
    function()
    local out = ok([[
      sim.fault({ kind = "server_error", method = "GET", path = "/v1/topics", count = -1 })
      task(26, "TYPE_MOUNT", { "orders" }, { "STATE_CUT_OVER", "gone" })
      local t = redpanda.mount_task(26):wait(fast)
      print(t.status, t.inferred, t.verified)
      print(t.message)
    ]])
    assert.matches("^succeeded\ttrue\tnil\nfinished: the task was deleted after STATE_CUT_OVER "
      .. "%(inferred from a 404; the topic list could not be read: redpanda: GET [^ ]+/v1/topics"
      .. "%?filter%.name_contains=orders answered 503: .*%)\n$", out)
  end)

  it("failing after an early state, is not_found with advice that works", function()
    local out = ok([[
      sim.fault({ kind = "server_error", method = "GET", path = "/v1/topics", count = -1 })
      task(27, "TYPE_MOUNT", { "orders" }, { "STATE_PLANNED", "gone" })
      local t = redpanda.mount_task(27)
      local _, e = pcall(t.wait, t, fast)
      print(e.kind, e.message:find("the topic list could not be read", 1, true) ~= nil)
      local advice = e.message:match("wait options ([^)]+)%)")
      print(advice)
      task(28, "TYPE_MOUNT", { "orders" }, { "STATE_EXECUTED", "gone" })
      local opts = assert(load("return { " .. advice .. " }"))()
      print(redpanda.mount_task(28):wait(opts).status)
    ]])
    assert.are.equal('not_found\ttrue\ninterval = "1s", max_interval = "1s"\nsucceeded\n', out)
  end)
end)

describe("Redpanda waits with the default options", function()
  it("pass 50 runs out of 50 against the simulator deleting finished tasks", function()
    -- Time mode, the simulator's default pace: each task is gone 3 s after it started.
    local out = ok([[
      local handles = {}
      for i = 1, 50 do
        handles[i] = taskrun.spawn(function()
          return redpanda.mount_topics({ string.format("topic-%02d", i) }):wait()
        end)
      end
      local passed, verified = 0, 0
      for _, h in ipairs(handles) do
        local okay, t = pcall(h.join, h)
        if okay and t.ok then passed = passed + 1 end
        if okay and t.verified then verified = verified + 1 end
      end
      print(passed, verified, #redpanda.topics({ name_contains = "topic-" }))
    ]])
    assert.are.equal("50\t50\t50\n", out)
  end)

  it("use Redpanda's own schedule, and the runbook's options win", function()
    local out = ok([[
      local d = redpanda.wait_defaults
      print(d.interval, d.max_interval)
      -- max_interval alone, under Redpanda's 1 s default interval: the advice gives both.
      task(29, "TYPE_MOUNT", { "orders" }, { "STATE_EXECUTING", "STATE_FINISHED" })
      local t = redpanda.mount_task(29)
      local _, e = pcall(t.wait, t, { max_interval = "500ms" })
      print(e.kind, e.message)
      local advice = e.message:match("e%.g%. (.*)$")
      print(t:wait(assert(load("return { " .. advice .. " }"))()).state)
      -- Redpanda's own interval is enough for a cap of 1 s (the default 2 s would not be).
      print(redpanda.mount_task(29):wait({ max_interval = "1s" }).state)
    ]])
    assert.are.equal("1\t5\nusage\ttaskrun.wait: max_interval (0.5s) must be at least interval "
      .. "(1s, redpanda waits' default unless given): give both, e.g. interval = 0.5, "
      .. "max_interval = 0.5\nSTATE_FINISHED\nSTATE_FINISHED\n", out)
  end)
end)

describe("the advice of a wait past its deadline", function()
  it("names options that work: a smaller max_retry_after", function()
    local out = ok([[
      task(30, "TYPE_MOUNT", { "orders" }, { "STATE_EXECUTING", "STATE_FINISHED" })
      local t = redpanda.mount_task(30)
      sim.fault({ kind = "rate_limit", retry_after = 3600, method = "GET", count = 1,
                  path = "/v1/cloud-storage/mount-tasks/30" })
      local _, e = pcall(t.wait, t, { timeout = "1m" })
      print(e.kind, e.message:find("a smaller max_retry_after", 1, true) ~= nil)
      sim.fault({ kind = "rate_limit", retry_after = 3600, method = "GET", count = 1,
                  path = "/v1/cloud-storage/mount-tasks/30" })
      print(t:wait({ timeout = "1m", max_retry_after = "10ms", interval = "10ms" }).state)
    ]])
    assert.are.equal("timeout\ttrue\nSTATE_FINISHED\n", out)
  end)
end)
