-- taskrun-sim, Keycard: catalog tasks and installs as the vendor documents them, driven from a
-- runbook with taskrun.http. Tasks advance one state per poll, so nothing here waits on a clock.
local H = require("harness")
local S = require("simspec")

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
