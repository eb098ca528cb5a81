-- taskrun-sim, NetApp Astra: tasks, include/limit/filter/continue and backups as the vendor
-- documents them, driven from a runbook with taskrun.http. Tasks advance one state per poll.
local H = require("harness")
local S = require("simspec")
local cjson = require("cjson")

local run = S.runner([[
local auth = { Authorization = "Bearer sim-astra-token" }
local account = base .. "/accounts/8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e"
local tasks = account .. "/core/v1/tasks"
]])

describe("taskrun-sim Astra", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() S.stop(sim) end)

  it("starts a backup: 201 with Location, an astra.backup task and its astra.backup.prep child", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      local res = http.post(account .. "/k8s/v1/apps/app-1/appBackups", { headers = auth,
        json = { type = "application/astra-appBackup", version = "1.1", name = "nightly" } })
      emit(seen(res))
      local backup = res:json()
      local list = http.get(tasks, { headers = auth,
        query = { filter = "resourceID eq '" .. backup.id .. "'" } }):json()
      emit(list)
      local parent = list.items[1]
      emit(http.get(tasks, { headers = auth,
        query = { filter = "parentTaskID eq '" .. parent.id .. "'" } }):json())
      for _ = 1, 3 do emit(http.get(tasks .. "/" .. parent.id, { headers = auth }):json()) end
      emit(http.get(account .. "/k8s/v1/apps/app-1/appBackups/" .. backup.id, { headers = auth }):json())
    ]])
    local created = out[1]
    assert.are.equal(201, created.status)
    assert.are.equal("application/astra-appBackup", created.body.type)
    assert.are.equal("nightly", created.body.name)
    local uri = "/accounts/8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e/k8s/v1/apps/app-1/appBackups/"
      .. created.body.id
    assert.are.equal(uri, created.headers.location)
    local parent = out[2].items[1]
    assert.are.equal(1, #out[2].items)
    assert.are.equal("application/astra-tasks", out[2].type)
    assert.are.equal("application/astra-task", parent.type)
    assert.are.equal("astra.backup", parent.name)
    assert.are.equal(created.body.id, parent.resourceID)
    assert.are.equal(uri, parent.resourceURI)
    assert.are.equal("table", type(parent.stateTransitions))
    assert.are.same({}, parent.stateDetails)
    assert.are.equal("table", type(parent.metadata))
    local child = out[3].items[1]
    assert.are.equal("astra.backup.prep", child.name)
    assert.are.equal(parent.id, child.parentTaskID)
    -- Every answer that shows a task counts as a read of it, the list included.
    assert.are.same({ "running", 0 }, { parent.state, parent.percentDone })
    assert.are.same({ "running", "completed", "completed" }, { out[4].state, out[5].state, out[6].state })
    assert.are.same({ 50, 100, 100 }, { out[4].percentDone, out[5].percentDone, out[6].percentDone })
    assert.is_nil(out[4].endTime)
    assert.are.equal("string", type(out[5].endTime))
    assert.are.equal(out[5].endTime, out[6].endTime)
    assert.are.equal("completed", out[7].state)
  end)

  it("lists an app's backups, each as GET answers it, filtered by name, no other app's", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      local apps = account .. "/k8s/v1/apps/"
      local ids = {}
      local made = { { "app-1", "nightly" }, { "app-2", "nightly" }, { "app-1", "weekly" } }
      for i, b in ipairs(made) do
        ids[i] = http.post(apps .. b[1] .. "/appBackups", { headers = auth,
          json = { name = b[2] } }):json().id
      end
      emit(seen(http.get(apps .. "app-1/appBackups", { headers = auth })))
      emit(http.get(apps .. "app-1/appBackups/" .. ids[1], { headers = auth }):json())
      emit(http.get(apps .. "app-1/appBackups/" .. ids[3], { headers = auth }):json())
      emit(http.get(apps .. "app-1/appBackups", { headers = auth,
        query = { filter = "name eq 'weekly'" } }):json())
      emit(http.get(apps .. "app-2/appBackups", { headers = auth }):json())
      emit(http.get(apps .. "app-9/appBackups", { headers = auth }):json())
      emit(http.get(apps .. "app-1/appBackups", { headers = auth,
        query = { include = "id,name,metadata.creationTimestamp", limit = 1 } }):json())
      emit(ids)
    ]])
    local list, ids = out[1], out[8]
    assert.are.equal(200, list.status)
    assert.are.equal("application/astra-appBackups", list.body.type)
    assert.are.equal("1.1", list.body.version)
    assert.are.equal("table", type(list.body.metadata))
    assert.are.equal(2, #list.body.items)
    assert.are.same(out[2], list.body.items[1])
    assert.are.same(out[3], list.body.items[2])
    local b = out[2]
    assert.are.same({ "application/astra-appBackup", "1.1", ids[1], "nightly", "running" },
      { b.type, b.version, b.id, b.name, b.state })
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d", b.metadata.creationTimestamp)
    assert.are.equal(1, #out[4].items)
    assert.are.equal(ids[3], out[4].items[1].id)
    assert.are.equal(1, #out[5].items)
    assert.are.equal(ids[2], out[5].items[1].id)
    assert.are.same({}, out[6].items)
    assert.are.same({ { ids[1], "nightly", b.metadata.creationTimestamp } }, out[7].items)
    assert.are.equal(2, out[7].metadata.count)
    assert.are.equal("string", type(out[7].metadata.continue))
  end)

  it("answers bad backup list parameters with problem+json 400", function()
    local out = run(sim, [[
      local list = account .. "/k8s/v1/apps/app-1/appBackups"
      for _, q in ipairs({ { filter = "name is x" }, { skip = "2" }, { limit = "0" },
                           { continue = "nope" } }) do
        emit(seen(http.get(list, { headers = auth, query = q })))
      end
      emit(seen(http.delete(list, { headers = auth })))
    ]])
    for i = 1, 4 do
      assert.are.equal(400, out[i].status)
      assert.are.equal("400", out[i].body.status)
      assert.are.equal(({ "filter", "skip", "limit", "continue" })[i],
        out[i].body.invalidParams[1].name)
    end
    assert.are.equal(405, out[5].status)
    assert.are.equal("GET, POST", out[5].headers.allow)
  end)

  it("projects items into positional arrays in the order include names the fields", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "astra", id = "a-1", name = "astra.backup",
        mode = "poll", steps = { { state = "running", percentDone = 20.25 } } })
      emit(http.get(tasks, { headers = auth, query = { include = "state,id,percentDone,nope" } }):json())
    ]])
    local items = out[1].items
    assert.are.equal(1, #items)
    assert.are.equal("running", items[1][1])
    assert.are.equal("a-1", items[1][2])
    assert.are.equal(20.25, items[1][3])
    assert.are.equal(cjson.null, items[1][4])
  end)

  it("pages with limit and metadata.continue, passed back as ?continue=", function()
    local out = run(sim, [[
      for i = 1, 5 do admin("POST", "/_sim/tasks", { provider = "astra", id = "t" .. i }) end
      local pages, token = {}, nil
      repeat
        local res = http.get(tasks, { headers = auth, query = { limit = 2, include = "id",
          continue = token } }):json()
        local ids = {}
        for _, row in ipairs(res.items) do ids[#ids + 1] = row[1] end
        pages[#pages + 1] = { ids = ids, count = res.metadata.count }
        token = res.metadata.continue
      until token == nil or #pages > 5
      emit(pages)
    ]])
    local pages = out[1]
    assert.are.equal(3, #pages)
    assert.are.same({ "t1", "t2" }, pages[1].ids)
    assert.are.same({ "t3", "t4" }, pages[2].ids)
    assert.are.same({ "t5" }, pages[3].ids)
    assert.are.equal(5, pages[1].count)
  end)

  it("filters with eq, lt, gt, lte and gte, several filters meaning all of them", function()
    local out = run(sim, [[
      for i, pct in ipairs({ 10, 50, 90 }) do
        admin("POST", "/_sim/tasks", { provider = "astra", id = "p" .. i, mode = "poll",
          name = i == 3 and "astra.backup.prep" or "astra.backup",
          steps = { { state = "running", percentDone = pct } } })
      end
      local function ids(filters)
        local q = "include=id"
        for _, f in ipairs(filters) do q = q .. "&filter=" .. f:gsub(" ", "%%20"):gsub("'", "%%27") end
        local list = {}
        for _, row in ipairs(http.get(tasks .. "?" .. q, { headers = auth }):json().items) do
          list[#list + 1] = row[1]
        end
        return list
      end
      emit({ ids({ "percentDone lt '50'" }), ids({ "percentDone gt '50'" }),
        ids({ "percentDone lte '50'" }), ids({ "percentDone gte '50'" }),
        ids({ "name eq 'astra.backup'" }), ids({ "name eq 'astra.backup'", "percentDone gte '50'" }),
        ids({ "state eq 'completed'" }) })
    ]])
    local r = out[1]
    assert.are.same({ "p1" }, r[1])
    assert.are.same({ "p3" }, r[2])
    assert.are.same({ "p1", "p2" }, r[3])
    assert.are.same({ "p2", "p3" }, r[4])
    assert.are.same({ "p1", "p2" }, r[5])
    assert.are.same({ "p2" }, r[6])
    assert.are.same({}, r[7])
  end)

  it("answers bad query parameters with problem+json 400, status as a string", function()
    local out = run(sim, [[
      for _, q in ipairs({ { filter = "state is running" }, { skip = "2" }, { limit = "zero" },
                           { continue = "not-a-token" } }) do
        emit(seen(http.get(tasks, { headers = auth, query = q })))
      end
    ]])
    for i, o in ipairs(out) do
      assert.are.equal(400, o.status)
      assert.are.equal("application/problem+json", o.headers["content-type"])
      assert.are.equal("400", o.body.status)
      assert.are.equal("string", type(o.body.title))
      assert.are.equal("string", type(o.body.detail))
      assert.are.equal(i == 2 and "https://astra.netapp.io/problems/6"
        or "https://astra.netapp.io/problems/5", o.body.type)
      assert.are.equal(({ "filter", "skip", "limit", "continue" })[i], o.body.invalidParams[1].name)
    end
  end)

  it("answers 401 with problems 3 (missing) and 4 (invalid token)", function()
    local out = run(sim, [[
      emit(seen(http.get(tasks)))
      emit(seen(http.get(tasks, { headers = { Authorization = "Bearer wrong" } })))
    ]])
    assert.are.equal(401, out[1].status)
    assert.are.equal("https://astra.netapp.io/problems/3", out[1].body.type)
    assert.are.equal("Missing bearer token", out[1].body.title)
    assert.are.equal("401", out[1].body.status)
    assert.are.equal(401, out[2].status)
    assert.are.equal("https://astra.netapp.io/problems/4", out[2].body.type)
    assert.are.equal("401", out[2].body.status)
  end)

  it("answers 404, 405, 403 and a bad backup body as problem details", function()
    local out = run(sim, [[
      emit(seen(http.get(tasks .. "/no-such-task", { headers = auth })))
      emit(seen(http.get(account .. "/core/v1/nothing", { headers = auth })))
      emit(seen(http.delete(tasks, { headers = auth })))
      emit(seen(http.get(base .. "/accounts/someone-else/core/v1/tasks", { headers = auth })))
      emit(seen(http.post(account .. "/k8s/v1/apps/a/appBackups", { headers = auth, body = "[" })))
    ]])
    assert.are.equal(404, out[1].status)
    assert.are.equal("https://astra.netapp.io/problems/1", out[1].body.type)
    assert.are.equal("404", out[1].body.status)
    assert.are.equal(404, out[2].status)
    assert.are.equal("https://astra.netapp.io/problems/2", out[2].body.type)
    assert.are.equal(405, out[3].status)
    assert.are.equal("405", out[3].body.status)
    assert.are.equal("GET", out[3].headers.allow)
    assert.are.equal(403, out[4].status)
    assert.are.equal("https://astra.netapp.io/problems/11", out[4].body.type)
    assert.are.equal(400, out[5].status)
    assert.are.equal("400", out[5].body.status)
    assert.are.equal("application/problem+json", out[5].headers["content-type"])
  end)
end)
