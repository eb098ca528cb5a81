-- taskrun.http against a real server on loopback (taskrun-sim's generic /_sim/ endpoints).
local H = require("harness")

describe("taskrun.http", function()
  local sim

  setup(function() sim = H.start_sim() end)
  teardown(function() sim.stop() end)

  local function run(script, opts)
    opts = opts or {}
    opts.script = "local http = require('taskrun.http')\nlocal json = require('taskrun.json')\n"
      .. "local base = os.getenv('TASKRUN_SIM_URL')\n" .. script
    opts.env = H.sim_env(sim, opts.env)
    return H.run(opts)
  end

  it("sends the method, query, headers and a JSON body, and returns the response", function()
    local r = run([[
      local res = http.post(base .. "/_sim/echo/thing", {
        query = { b = "x y&z", a = { 1, 2 }, flag = true },
        headers = { ["X-Trace"] = "abc" },
        json = { n = 7, list = json.array() },
      })
      local e = res:json()
      print(res.status, res.headers["content-type"], e.method, e.path)
      print(e.query)
      print(e.headers["x-trace"], e.headers["content-type"], e.headers["user-agent"])
      print(e.body)
      print(e.headers["accept-encoding"] ~= nil, e.headers["expect"])
    ]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(table.concat({
      "200\tapplication/json\tPOST\t/_sim/echo/thing",
      "a=1&a=2&b=x%20y%26z&flag=true",
      "abc\tapplication/json\ttaskrun/0.1.0",
      '{"list":[],"n":7}',
      "true\tnil",
    }, "\n") .. "\n", r.stdout)
  end)

  it("supports put, patch, delete and head", function()
    local r = run([[
      for _, m in ipairs({ "put", "patch", "delete" }) do
        io.write(http[m](base .. "/_sim/echo", { body = "b" }):json().method, " ")
      end
      local h = http.head(base .. "/_sim/echo")
      print(h.status, h.body == "")
    ]])
    assert.are.equal("PUT PATCH DELETE 200\ttrue\n", r.stdout)
  end)

  it("returns error statuses as responses, with lower-case header names", function()
    local r = run([[
      local res = http.get(base .. "/_sim/status", { query = { code = 503,
        header = { "Retry-After:7", "X-Vendor-Thing:yes" }, body = "<html>down</html>" } })
      print(res.status, res.headers["x-vendor-thing"], res.retry_after, res.body)
    ]])
    assert.are.equal("503\tyes\t7\t<html>down</html>\n", r.stdout)
  end)

  it("does not follow redirects unless asked", function()
    local r = run([[
      local to = base .. "/_sim/echo/landed"
      local res = http.get(base .. "/_sim/redirect", { query = { to = to, code = 303 } })
      print(res.status, res.headers.location == to)
      local followed = http.get(base .. "/_sim/redirect", { query = { to = to }, follow = true })
      print(followed.status, followed:json().path)
    ]])
    assert.are.equal("303\ttrue\n200\t/_sim/echo/landed\n", r.stdout)
  end)

  it("raises kind decode from res:json() on a body that is not JSON, naming the request", function()
    local r = run([[
      local res = http.get(base .. "/_sim/status", { query = { code = 200, body = "<html>" } })
      local ok, err = pcall(res.json, res)
      print(err.kind, err.status, err.message:find("answered 200 with a body that is not JSON") ~= nil)
    ]])
    assert.are.equal("decode\t200\ttrue\n", r.stdout)
  end)

  it("caps the response size and says so", function()
    local r = run([[
      print(#http.get(base .. "/_sim/bytes", { query = { n = 1000 } }).body)
      local ok, err = pcall(http.get, base .. "/_sim/bytes", { query = { n = 5000 }, max_body = 4096 })
      print(ok, err.kind, err.cause, err.message:find("larger than the 4096%-byte cap") ~= nil)
    ]])
    assert.are.equal("1000\nfalse\ttransport\ttoo_large\ttrue\n", r.stdout)
  end)

  it("raises kind transport naming the URL without credentials and libcurl's reason", function()
    local r = run([[
      local ok, err = pcall(http.get, "http://user:hunter2pass@127.0.0.1:1/x")
      print(err.kind, err.cause, err.url)
      print(err.message:find("hunter2pass", 1, true) == nil, err.message:find("connect") ~= nil)
      ok, err = pcall(http.get, base .. "/_sim/drop")
      print(err.kind, err.cause)
      ok, err = pcall(http.get, base .. "/_sim/stall", { timeout = "300ms" })
      print(err.kind, err.cause)
      ok, err = pcall(http.get, base .. "/_sim/delay", { query = { ms = 2000 }, timeout = 0.2 })
      print(err.kind, err.cause)
    ]])
    assert.are.equal(table.concat({
      "transport\tconnect\thttp://127.0.0.1:1/x",
      "true\ttrue",
      "transport\treset",
      "transport\ttimeout",
      "transport\ttimeout",
    }, "\n") .. "\n", r.stdout)
  end)

  it("raises kind usage for bad options", function()
    local r = run([[
      for _, opts in ipairs({ { url = "::not a url" }, {}, { url = base, body = {} },
                              { url = base, body = "x", json = {} }, { url = base, timeout = "soon" },
                              { url = base, query = { k = print } } }) do
        io.write(select(2, pcall(http.request, opts)).kind, " ")
      end
    ]])
    assert.are.equal("usage usage usage usage usage usage ", r.stdout)
  end)

  it("refuses an unreadable TASKRUN_CA_BUNDLE with a message naming it", function()
    local r = run([[print(select(2, pcall(http.get, base .. "/_sim/echo")).message)]],
      { env = { TASKRUN_CA_BUNDLE = "/nonexistent/ca.pem" } })
    assert.matches("TASKRUN_CA_BUNDLE=/nonexistent/ca.pem cannot be read", r.stdout, 1, true)
  end)

  it("runs 1,000 concurrent GETs: all complete, and the server sees them in flight together "
    .. "when TASKRUN_MAX_INFLIGHT lets it", function()
    local r = run([[
      http.post(base .. "/_sim/stats/reset")
      local hs = {}
      for i = 1, 1000 do
        hs[i] = taskrun.spawn(http.get, base .. "/_sim/delay", { query = { ms = 300 } })
      end
      local ok = 0
      for i = 1, 1000 do if hs[i]:join().status == 200 then ok = ok + 1 end end
      local stats = http.get(base .. "/_sim/stats"):json()
      print(ok, stats.max_inflight >= 500)
    ]], { env = { TASKRUN_MAX_INFLIGHT = "1000" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("1000\ttrue\n", r.stdout)
  end)

  it("never prints the Authorization token, even at debug level", function()
    local r = run([[
      local res = http.get(base .. "/_sim/status", { query = { code = 401 },
        headers = { Authorization = "Bearer tok-very-secret-42" } })
      taskrun.log.info("about to fail with tok-very-secret-42")
      error("failed using tok-very-secret-42")
    ]], { flags = { "--log-level", "debug" } })
    assert.are.equal(1, r.code)
    assert.is_falsy(r.stderr:find("tok-very-secret-42", 1, true))
    assert.matches("[REDACTED]", r.stderr, 1, true)
  end)

  it("SIGTERM during a slow request exits 143 at once", function()
    local p = H.spawn({ env = H.sim_env(sim), script = [[
      print("ready") io.stdout:flush()
      require("taskrun.http").get(os.getenv("TASKRUN_SIM_URL") .. "/_sim/delay",
        { query = { ms = 60000 }, timeout = 120 })
    ]] })
    assert.are.equal("ready", p:line())
    local t0 = os.time()
    p:kill("TERM")
    local r = p:wait()
    assert.are.equal(143, r.code)
    assert.is_true(os.time() - t0 < 30)
  end)
end)
