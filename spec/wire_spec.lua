-- What taskrun puts on the wire and reads back from it: paths that cannot be rewritten,
-- headers and methods that cannot be forged, timeouts that are never infinite, options read
-- once, response headers however their lines end, and messages that quote input briefly.
local H = require("harness")

-- Runs a runbook under --sim with the simulator helpers; returns its stdout (exit 0 required).
local function sim_ok(script, opts)
  local r = H.run_sim("local http = taskrun.http\n" .. script, opts)
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout, r
end

-- Runs a runbook against a simulator of its own, with `env` on top of what --sim would set
-- (which --sim itself would override); returns its stdout (exit 0 required).
local function sim_env_ok(script, env)
  local sim = H.start_sim()
  local r = H.run({ env = H.sim_env(sim, env),
    script = 'local sim = dofile("spec/support/simctl.lua")\nlocal http = taskrun.http\n'
      .. script })
  sim.stop()
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout
end

-- A server that answers every request with the bytes of `response`, as written.
local function rawserve(response)
  local stub = H.start_stub({ response })
  return stub.url, stub.stop
end

describe("paths", function()
  -- Every provider, every operation with a path variable, every variable.
  local ops = {
    redpanda = { mount_task = { "id" }, update = { "id" }, delete = { "id" } },
    keycard = { catalog_task = { "zone", "id" }, install = { "zone" }, uninstall = { "zone", "id" },
                get_install = { "zone", "id" }, installs = { "zone" } },
    astra = { task = { "account", "id" }, tasks = { "account" }, backup = { "account", "app" },
              app_backups = { "account", "app" } },
    bluexp = { restore_status = { "account" }, job = { "account", "id" },
               restore_v1 = { "account" }, restore_v2 = { "account" }, restore_v3 = { "account" } },
  }

  it("refuses a variable that is empty, '.', '..' or holds a control character", function()
    local script = { "local specs = require('taskrun._provider')\nlocal ops = {" }
    for provider, list in pairs(ops) do
      for op, vars in pairs(list) do
        script[#script + 1] = string.format("{ %q, %q, { %q", provider, op, vars[1])
        for i = 2, #vars do script[#script + 1] = string.format(", %q", vars[i]) end
        script[#script + 1] = " } },\n"
      end
    end
    script[#script + 1] = [[}
      local bad = { "", ".", "..", "a\nb", "a\0b", "\r", "x\127" }
      local refused, total = 0, 0
      for _, o in ipairs(ops) do
        local provider, op, vars = o[1], o[2], o[3]
        for _, var in ipairs(vars) do
          for _, value in ipairs(bad) do
            local all = {}
            for _, v in ipairs(vars) do all[v] = "ok" end
            all[var] = value
            total = total + 1
            local ok, err = pcall(specs[provider].route, op, all)
            if not ok and err.kind == "usage" and err.provider == provider
              and err.message:find(provider .. "." .. op .. ": " .. var, 1, true)
              and err.message:find("nothing was sent", 1, true) then
              refused = refused + 1
            else
              print("not refused", provider, op, var, ("%q"):format(value),
                ok and err or err.message)
            end
          end
        end
      end
      print(refused == total, total)
      -- What can be a segment is encoded, so "/" or ".." inside a value stays inside it.
      print(select(2, specs.keycard.route("uninstall", { zone = "z", id = "a/../b" })))
      print(select(2, specs.keycard.route("uninstall", { zone = "z", id = "..." })))
      print(select(2, specs.redpanda.route("mount_task", { id = 7 })))
    ]]
    local r = H.run({ script = table.concat(script) })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("true\t168\n/zones/z/installs/a%2F..%2Fb\n/zones/z/installs/...\n"
      .. "/v1/cloud-storage/mount-tasks/7\n", r.stdout)
  end)

  it("sends nothing for keycard.uninstall('zone1', '..'), bluexp.job('..'), astra.backup('..') "
    .. "or ASTRA_ACCOUNT_ID=..", function()
    local out = sim_env_ok([[
      local calls = {
        function() return taskrun.keycard.uninstall("zone1", "..") end,
        function() return taskrun.bluexp.job("..") end,
        function() return taskrun.astra.backup("..", { name = "b" }) end,
        function() return taskrun.astra.tasks() end,
      }
      for _, f in ipairs(calls) do
        local ok, err = pcall(f)
        print(ok, err.kind, err.provider)
      end
      print(#sim.requests())
    ]], { ASTRA_ACCOUNT_ID = ".." })
    assert.are.equal("false\tusage\tkeycard\nfalse\tusage\tbluexp\nfalse\tusage\tastra\n"
      .. "false\tusage\tastra\n0\n", out)
  end)

  it("sends a URL's path as written: libcurl folds no dot segment", function()
    local out = sim_ok([[
      print(http.get(sim.url .. "/_sim/echo/a/../b/./c"):json().path)
    ]])
    assert.are.equal("/_sim/echo/a/../b/./c\n", out)
  end)

  it("quotes at most 80 bytes of a huge id, escaped, with its length", function()
    local r = H.run({ script = [[
      local specs = require("taskrun._provider")
      local huge = ("\n"):rep(1000000)
      local ok, err = pcall(specs.keycard.route, "uninstall", { zone = "z", id = huge })
      print(err.kind, #err.message < 400, err.message:find('"\\n\\n\\n', 1, true) ~= nil,
        err.message:find("(1000000 bytes)", 1, true) ~= nil)
    ]] })
    assert.are.equal("usage\ttrue\ttrue\ttrue\n", r.stdout, r.stderr)
  end)
end)

describe("request headers and methods", function()
  it("refuses CR, LF or NUL in a header value, names that are not tokens, and a forged method; "
    .. "nothing is sent and no value is echoed", function()
    local out = sim_ok([[
      local echo = sim.url .. "/_sim/echo"
      local cases = {
        { url = echo, headers = { ["X-A"] = "v\r\nX-Evil: 1" } },
        { url = echo, headers = { ["X-A"] = "v\nX-Evil: 1" } },
        { url = echo, headers = { ["X-A"] = "v\0w" } },
        { url = echo, headers = { Authorization = "Bearer tok-secret-77\r\nX-Evil: 1" } },
        { url = echo, headers = { ["X Evil"] = "v" } },
        { url = echo, headers = { ["X-Evil:"] = "v" } },
        { url = echo, headers = { [""] = "v" } },
        { url = echo, method = "GET /evil" },
        { url = echo, method = "GET\r\nX-Evil: 1" },
        { url = echo, method = "" },
      }
      for _, opts in ipairs(cases) do
        local ok, err = pcall(http.request, opts)
        print(ok, err.kind, err.message:find("nothing was sent", 1, true) ~= nil,
          err.message:find("tok-secret-77", 1, true) == nil, err.message:find("[\r\n]") == nil)
      end
      print(#sim.requests())
    ]])
    assert.are.equal(("false\tusage\ttrue\ttrue\ttrue\n"):rep(10) .. "0\n", out)
  end)

  it("refuses a token or BLUEXP_AGENT_ID holding CR/LF before any request", function()
    local out = sim_env_ok([[
      local ok, err = pcall(function()
        return taskrun.keycard.client({ token = "tok-evil-5\r\nX-Evil: 1" }):catalog_task("z", "t")
      end)
      print(ok, err.kind, err.message:find("tok-evil-5", 1, true) == nil)
      ok, err = pcall(taskrun.bluexp.job, "job-1")
      print(ok, err.kind, err.message:find("x-agent-id", 1, true) ~= nil)
      print(#sim.requests())
    ]], { BLUEXP_AGENT_ID = "agent\r\nX-Evil: 1" })
    assert.are.equal("false\tusage\ttrue\nfalse\tusage\ttrue\n0\n", out)
  end)
end)

describe("timeouts", function()
  it("refuses a timeout or connect_timeout of 0 or less; under 1 ms still times out", function()
    local out = sim_ok([[
      local slow = sim.url .. "/_sim/delay"
      for _, opts in ipairs({ { timeout = 0 }, { timeout = "0s" }, { timeout = -1 },
                              { connect_timeout = 0 } }) do
        opts.query = { ms = 1500 }
        local ok, err = pcall(http.get, slow, opts)
        print(ok, err.kind)
      end
      local ok, err = pcall(http.get, slow, { query = { ms = 1500 }, timeout = 0.0001 })
      print(ok, err.kind, err.cause)
    ]])
    assert.are.equal("false\tusage\nfalse\tusage\nfalse\tusage\nfalse\tusage\n"
      .. "false\ttransport\ttimeout\n", out)
  end)
end)

describe("options", function()
  it("reads opts.query once, even when __index answers differently each time", function()
    local out = sim_ok([[
      local reads = 0
      local opts = setmetatable({ url = sim.url .. "/_sim/echo" }, { __index = function(_, k)
        if k ~= "query" then return nil end
        reads = reads + 1
        if reads == 1 then return { a = 1 } end
        local big = {}
        for i = 1, 5000 do big["k" .. i] = i end
        return big
      end })
      print(http.request(opts):json().query, reads)
    ]])
    assert.are.equal("a=1\t1\n", out)
  end)

  it("refuses more than 256 query keys", function()
    local out = sim_ok([[
      local q = {}
      for i = 1, 257 do q["k" .. i] = i end
      local ok, err = pcall(http.get, sim.url .. "/_sim/echo", { query = q })
      print(ok, err.kind, err.message)
    ]])
    assert.are.equal("false\tusage\thttp: more than 256 query parameters\n", out)
  end)
end)

describe("response headers", function()
  it("reads header lines that end in LF alone: a Keycard 303 keeps its install id", function()
    local url, stop = rawserve("HTTP/1.1 303 See Other\nLocation: /zones/z1/installs/inst-42\n"
      .. "X-Dup: a\nx-dup: b\nContent-Length: 0\nConnection: close\n\n")
    local r = H.run({ env = { KEYCARD_API_URL = url, KEYCARD_TOKEN = "kc-wire-token" }, script = [[
      local res = taskrun.http.get(os.getenv("KEYCARD_API_URL") .. "/x")
      print(res.status, res.headers.location, res.headers["x-dup"])
      local task = taskrun.keycard.catalog_task("z1", "ct1")
      print(task.status, task.install_id)
    ]] })
    stop()
    assert.are.equal("303\t/zones/z1/installs/inst-42\ta, b\nsucceeded\tinst-42\n", r.stdout,
      r.stderr)
  end)

  it("keeps only the last response's headers after a redirect", function()
    local out = sim_ok([[
      local res = http.get(sim.url .. "/_sim/redirect", { follow = true,
        query = { to = sim.url .. "/_sim/echo" } })
      print(res.status, res.headers.location, res.headers["content-type"])
    ]])
    assert.are.equal("200\tnil\tapplication/json\n", out)
  end)

  it("stops a response with thousands of header lines: transport, too_large", function()
    local url, stop = rawserve("HTTP/1.1 200 OK\r\n" .. ("X-Flood: y\r\n"):rep(5000)
      .. "Content-Length: 2\r\n\r\nok")
    local r = H.run({ env = { U = url }, script = [[
      local ok, err = pcall(taskrun.http.get, os.getenv("U"))
      print(ok, err.kind, err.cause)
    ]] })
    stop()
    assert.are.equal("false\ttransport\ttoo_large\n", r.stdout, r.stderr)
  end)
end)

describe("messages", function()
  it("name the duration given: its text quoted, or its type", function()
    local r = H.run({ script = [[
      for _, v in ipairs({ "abc", print, -1, ("9"):rep(500) .. "x" }) do
        local ok, err = pcall(taskrun.http.get, "http://127.0.0.1:1/", { timeout = v })
        print(err.kind, (err.message:match("^bad duration (.-) for timeout")))
      end
    ]] })
    assert.are.equal('usage\t"abc"\nusage\t(a function)\nusage\t-1\nusage\t"'
      .. ("9"):rep(80) .. '..." (501 bytes)\n', r.stdout, r.stderr)
  end)

  it("never echo the password of a URL that fails to parse", function()
    local r = H.run({ script = [[
      local ok, err = pcall(taskrun.http.get, "http://user:hunter2pw@exa mple.com/")
      print(err.kind, err.message:find("hunter2pw", 1, true) == nil,
        err.message:find("***", 1, true) ~= nil)
    ]] })
    assert.are.equal("usage\ttrue\ttrue\n", r.stdout, r.stderr)
  end)

  it("say the process ran out of file descriptors, and what to do", function()
    local sim = H.start_sim()
    local script = H.write_tmp([[
      local base = os.getenv("TASKRUN_SIM_URL")
      local hs = {}
      for i = 1, 400 do
        hs[i] = taskrun.spawn(function()
          local ok, err = pcall(taskrun.http.get, base .. "/_sim/delay", { query = { ms = 300 } })
          return ok and "ok" or err.message
        end)
      end
      local out_of_fds = 0
      for i = 1, 400 do
        local m = hs[i]:join()
        if m:find("ran out of file descriptors", 1, true) and m:find("ulimit -n", 1, true)
          and m:find("limit 100", 1, true) then out_of_fds = out_of_fds + 1 end
      end
      print(out_of_fds > 0)
    ]], ".lua")
    -- 400 in flight at once: the per-host bound (32 by default) would keep it under the limit.
    local p = assert(io.popen("ulimit -n 100 && TASKRUN_MAX_INFLIGHT=400 TASKRUN_SIM_URL="
      .. H.quote(sim.url) .. " ./taskrun " .. H.quote(script) .. " 2>&1"))
    local out = p:read("a")
    p:close()
    sim.stop()
    assert.are.equal("true\n", out)
  end)
end)
