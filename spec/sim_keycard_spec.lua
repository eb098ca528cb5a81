-- taskrun-sim, Keycard: catalog tasks and installs as the vendor documents them, driven from a
-- runbook with taskrun.http. Tasks advance one state per poll, so nothing here waits on a clock.
local H = require("harness")
local S = require("simspec")
local cjson = require("cjson")

local run = S.runner([[
local auth = { Authorization = "Bearer sim-keycard-token" }
local zone = base .. "/zones/zone-a"
]])

describe("taskrun-sim Keycard", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() S.stop(sim) end)

  it("creates an install whose task is 200 while pending and running, then 303 to the install", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      local res = http.post(zone .. "/installs", { headers = auth,
        json = { package_id = "pkg_linear", version = 3, inputs = { team = "ops" } } })
      emit(seen(res))
      local task = res:json()
      for _ = 1, 3 do
        emit(seen(http.get(zone .. "/catalog_tasks/" .. task.id, { headers = auth })))
      end
      emit(seen(http.get(base .. "/zones/zone-a/installs/" .. task.install_id, { headers = auth })))
      emit(seen(http.get(zone .. "/catalog_tasks/" .. task.id, { headers = auth, follow = true })))
    ]])
    local created = out[1]
    assert.are.equal(201, created.status)
    local t = created.body
    assert.are.equal("create", t.operation)
    assert.are.equal("pending", t.status)
    assert.are.equal(26, #t.id)
    assert.are.equal(26, #t.install_id)
    assert.are.equal("pkg_linear", t.package_id)
    assert.are.equal("linear", t.package_slug)
    assert.are.equal(3, t.package_version)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d", t.created_at)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", t.updated_at)
    assert.are.same({}, t.links)
    assert.are.same({}, t.warnings)
    assert.are.equal(200, out[2].status)
    assert.are.equal("pending", out[2].body.status)
    assert.are.equal(200, out[3].status)
    assert.are.equal("running", out[3].body.status)
    assert.are.equal(303, out[4].status)
    assert.are.equal("/zones/zone-a/installs/" .. t.install_id, out[4].headers.location)
    assert.are.equal("", out[4].body)
    assert.are.equal(200, out[5].status)
    assert.are.equal(t.install_id, out[5].body.id)
    assert.are.equal("active", out[5].body.status)
    assert.are.equal("pkg_linear", out[5].body.package_id)
    assert.are.equal(200, out[6].status)
    assert.are.equal("active", out[6].body.status)
  end)

  it("answers 200 with status failed and the error message for a failed task", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "keycard", zone = "zone-a", id = "t-fail",
        mode = "poll", steps = { "running", { state = "failed", error_message = "quota exceeded" } } })
      for _ = 1, 3 do emit(seen(http.get(zone .. "/catalog_tasks/t-fail", { headers = auth }))) end
    ]])
    assert.are.equal("running", out[1].body.status)
    for i = 2, 3 do
      assert.are.equal(200, out[i].status)
      assert.are.equal("failed", out[i].body.status)
      assert.are.equal("quota exceeded", out[i].body.error_message)
    end
  end)

  it("deletes an install through a delete task; the install goes deleting, then deleted", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      local install = http.post(zone .. "/installs", { headers = auth,
        json = { package_id = "pkg_github" } }):json().install_id
      local del = http.delete(zone .. "/installs/" .. install, { headers = auth })
      emit(seen(del))
      emit(http.get(zone .. "/installs/" .. install, { headers = auth }):json().status)
      local id = del:json().id
      for _ = 1, 3 do emit(seen(http.get(zone .. "/catalog_tasks/" .. id, { headers = auth }))) end
      emit(http.get(zone .. "/installs/" .. install, { headers = auth }):json().status)
      emit(seen(http.delete(zone .. "/installs/" .. install, { headers = auth })))
    ]])
    assert.are.equal(202, out[1].status)
    assert.are.equal("delete", out[1].body.operation)
    assert.are.equal("deleting", out[2])
    assert.are.equal(303, out[5].status)
    assert.matches("/installs/", out[5].headers.location)
    assert.are.equal("deleted", out[6])
    assert.are.equal(409, out[7].status)
    assert.are.equal("conflict", out[7].body.code)
  end)

  it("keeps tasks per zone: another zone's task is a 404 not_found", function()
    local out = run(sim, [[
      admin("POST", "/_sim/tasks", { provider = "keycard", zone = "zone-a", id = "t1" })
      emit(http.get(zone .. "/catalog_tasks/t1", { headers = auth }).status)
      emit(seen(http.get(base .. "/zones/zone-b/catalog_tasks/t1", { headers = auth })))
    ]])
    assert.are.equal(200, out[1])
    assert.are.equal(404, out[2].status)
    assert.are.equal("not_found", out[2].body.code)
    assert.are.equal(404, out[2].body.status)
  end)

  it("rejects a bad install body with 400 validation_error naming the field", function()
    local out = run(sim, [[
      emit(seen(http.post(zone .. "/installs", { headers = auth, json = { inputs = {} } })))
      emit(seen(http.post(zone .. "/installs", { headers = auth, body = "{not json" })))
      emit(seen(http.post(zone .. "/installs", { headers = auth,
        json = { package_id = "p", version = "latest" } })))
    ]])
    assert.are.equal(400, out[1].status)
    assert.are.equal("validation_error", out[1].body.code)
    assert.are.equal("package_id", out[1].body.details[1].field)
    assert.are.equal(400, out[2].status)
    assert.are.equal(400, out[3].status)
    assert.are.equal("version", out[3].body.details[1].field)
  end)

  it("lists a zone's installs oldest first, as GET answers each, and no other zone's", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      local ids = {}
      for i, pkg in ipairs({ "pkg_linear", "pkg_github", "pkg_slack" }) do
        local z = i == 2 and base .. "/zones/zone-b" or zone
        ids[i] = http.post(z .. "/installs", { headers = auth,
          json = { package_id = pkg, version = i } }):json().install_id
      end
      emit(seen(http.get(zone .. "/installs", { headers = auth })))
      emit(http.get(zone .. "/installs/" .. ids[1], { headers = auth }):json())
      emit(http.get(zone .. "/installs/" .. ids[3], { headers = auth }):json())
      emit(http.get(base .. "/zones/zone-b/installs", { headers = auth }):json())
      emit(http.get(base .. "/zones/zone-c/installs", { headers = auth }):json())
      emit(ids)
    ]])
    local list, ids = out[1], out[6]
    assert.are.equal(200, list.status)
    assert.are.equal(2, #list.body.items)
    assert.are.same(out[2], list.body.items[1])
    assert.are.same(out[3], list.body.items[2])
    assert.are.same({ ids[1], "zone-a", "pending", "pkg_linear", "linear", 1 },
      { out[2].id, out[2].zone_id, out[2].status, out[2].package_id, out[2].package_slug,
        out[2].package_version })
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", out[2].created_at)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", out[2].updated_at)
    -- One page holds everything: neither cursor leads anywhere.
    assert.are.same({ after_cursor = cjson.null, before_cursor = cjson.null },
      list.body.pagination)
    assert.are.equal(1, #out[4].items)
    assert.are.equal(ids[2], out[4].items[1].id)
    assert.are.equal("zone-b", out[4].items[1].zone_id)
    assert.are.same({}, out[5].items)
  end)

  it("keeps a deleted install listed with status deleted; listing reads no task", function()
    local out = run(sim, [[
      admin("POST", "/_sim/config", { mode = "poll" })
      local install = http.post(zone .. "/installs", { headers = auth,
        json = { package_id = "pkg_github" } }):json().install_id
      local del = http.delete(zone .. "/installs/" .. install, { headers = auth }):json().id
      emit(http.get(zone .. "/installs", { headers = auth }):json().items[1].status)
      emit(http.get(zone .. "/installs", { headers = auth }):json().items[1].status)
      for _ = 1, 3 do http.get(zone .. "/catalog_tasks/" .. del, { headers = auth }) end
      emit(http.get(zone .. "/installs", { headers = auth }):json().items)
    ]])
    assert.are.equal("deleting", out[1])
    assert.are.equal("deleting", out[2])
    assert.are.equal(1, #out[3])
    assert.are.equal("deleted", out[3][1].status)
  end)

  it("pages with limit, after and before, the cursors coming back in pagination", function()
    local out = run(sim, [[
      local ids = {}
      for i = 1, 5 do
        ids[i] = http.post(zone .. "/installs", { headers = auth,
          json = { package_id = "pkg_" .. i } }):json().install_id
        http.post(base .. "/zones/zone-b/installs", { headers = auth,
          json = { package_id = "x" } })
      end
      local function page(q)
        local body = http.get(zone .. "/installs", { headers = auth, query = q }):json()
        local got = {}
        for _, item in ipairs(body.items) do
          for i, id in ipairs(ids) do if id == item.id then got[#got + 1] = i end end
        end
        return { got = got, after = body.pagination.after_cursor,
          before = body.pagination.before_cursor }
      end
      local forward, cursor = {}, nil
      repeat
        local p = page({ limit = 2, after = cursor })
        forward[#forward + 1] = p
        cursor = p.after ~= json.null and p.after or nil
      until not cursor or #forward > 5
      emit(forward)
      local back, before = {}, forward[#forward].before
      repeat
        local p = page({ limit = 2, before = before })
        back[#back + 1] = p
        before = p.before ~= json.null and p.before or nil
      until not before or #back > 5
      emit(back)
    ]])
    local forward, back = out[1], out[2]
    assert.are.equal(3, #forward)
    assert.are.same({ 1, 2 }, forward[1].got)
    assert.are.same({ 3, 4 }, forward[2].got)
    assert.are.same({ 5 }, forward[3].got)
    assert.are.equal(cjson.null, forward[1].before)
    assert.are.equal("string", type(forward[2].before))
    assert.are.equal(cjson.null, forward[3].after)
    assert.are.equal(2, #back)
    assert.are.same({ 3, 4 }, back[1].got)
    assert.are.same({ 1, 2 }, back[2].got)
    assert.are.equal(cjson.null, back[2].before)
    assert.are.equal("string", type(back[2].after))
  end)

  it("rejects a bad limit or cursor with 400 validation_error naming the parameter", function()
    local out = run(sim, [[
      for _ = 1, 2 do
        http.post(zone .. "/installs", { headers = auth, json = { package_id = "p" } })
      end
      local c = http.get(zone .. "/installs", { headers = auth,
        query = { limit = 1 } }):json().pagination.after_cursor
      for _, q in ipairs({ { limit = "0" }, { limit = "101" }, { limit = "ten" }, { after = "" },
                           { before = "nonsense" }, { after = "zzz" }, { after = ("a"):rep(256) },
                           { after = c, before = c } }) do
        emit(seen(http.get(zone .. "/installs", { headers = auth, query = q })))
      end
      emit(seen(http.get(zone .. "/installs")))
    ]])
    local fields = { "limit", "limit", "limit", "after", "before", "after", "after", "before" }
    for i, field in ipairs(fields) do
      local o = out[i]
      assert.are.equal(400, o.status, i)
      assert.are.equal(400, o.body.status)
      assert.are.equal("validation_error", o.body.code)
      assert.are.equal(field, o.body.details[1].field, i)
      assert.are.equal("string", type(o.body.details[1].message))
      assert.are.equal("/zones/zone-a/installs", o.body.path)
    end
    assert.are.equal(401, out[#fields + 1].status)
    assert.are.equal("unauthorized", out[#fields + 1].body.code)
  end)

  it("answers 401 unauthorized in Keycard's envelope", function()
    local out = run(sim, [[
      emit(seen(http.get(zone .. "/catalog_tasks/t1")))
      emit(seen(http.get(zone .. "/catalog_tasks/t1", { headers = { Authorization = "Bearer x" } })))
    ]])
    for _, o in ipairs(out) do
      local e = o.body
      assert.are.equal(401, o.status)
      assert.are.equal(401, e.status)
      assert.are.equal("unauthorized", e.code)
      assert.are.equal("string", type(e.message))
      assert.are.same({}, e.details)
      assert.are.equal("/zones/zone-a/catalog_tasks/t1", e.path)
      assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", e.request_id)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", e.timestamp)
    end
  end)

  it("answers 404 and 405 in Keycard's envelope", function()
    local out = run(sim, [[
      emit(seen(http.get(zone .. "/catalog_tasks/missing", { headers = auth })))
      emit(seen(http.get(zone .. "/somewhere/else", { headers = auth })))
      emit(seen(http.request({ method = "PUT", url = zone .. "/catalog_tasks/t1", headers = auth,
        body = "" })))
      emit(seen(http.get(zone .. "/installs/none", { headers = auth })))
    ]])
    assert.are.equal(404, out[1].status)
    assert.are.equal("not_found", out[1].body.code)
    assert.are.equal(404, out[2].status)
    assert.are.equal("not_found", out[2].body.code)
    assert.are.equal(405, out[3].status)
    assert.are.equal(405, out[3].body.status)
    assert.are.equal("GET", out[3].headers.allow)
    assert.are.equal(404, out[4].status)
  end)
end)
