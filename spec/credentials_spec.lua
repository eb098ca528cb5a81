-- Where a client's token comes from, and how it is had, cached, renewed and kept secret:
-- against the simulator with tokens a runbook's function gives, with token files, and with a
-- stub token endpoint. (spec/credentials_sim_spec.lua: the simulator's own token endpoints.)
local H = require("harness")

-- Runs `script` against a simulator started here, with the environment `taskrun --sim` gives
-- minus the static tokens of `unset` (names), plus `env`.
local function run_own_sim(script, env, unset, flags)
  local sim = H.start_sim()
  local e = H.sim_env(sim, env)
  for _, name in ipairs(unset or {}) do e[name] = false end
  local ok, r = pcall(H.run, { flags = flags, env = e,
    script = 'local sim = dofile("spec/support/simctl.lua")\n' .. script })
  sim.stop()
  assert(ok, r)
  return r
end

local function ok(r)
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout
end

describe("a token from a function", function()
  it("is asked for on the first request, not before, and then cached", function()
    local out = ok(H.run_sim([[
      local calls = 0
      local c = taskrun.redpanda.client{ token = function()
        calls = calls + 1
        return "sim-redpanda-token", 3600
      end }
      print(calls)
      c:mount_tasks(); c:mount_tasks(); c:mount_tasks()
      print(calls, sim.requests("/mount-tasks")[1].status)
    ]]))
    assert.are.equal("0\n1\t200\n", out)
  end)

  it("is asked for once by 1,000 concurrent requests that need it (single flight)", function()
    local out = ok(H.run_sim([[
      local calls = 0
      local c = taskrun.redpanda.client{ token = function()
        calls = calls + 1
        taskrun.sleep(0.05)   -- a token request takes time: every task asks meanwhile
        return "sim-redpanda-token", 3600
      end }
      local tasks = {}
      for i = 1, 1000 do tasks[i] = taskrun.spawn(function() return #c:mount_tasks() end) end
      for _, t in ipairs(tasks) do t:join() end
      print(calls, #sim.requests("/mount-tasks"))
    ]]))
    assert.are.equal("1\t1000\n", out)
  end)

  it("renews once after a 401 and repeats the request, a POST too", function()
    local out = ok(H.run_sim([[
      local tokens = { "stale-token-1", "sim-redpanda-token" }
      local calls = 0
      local c = taskrun.redpanda.client{ token = function()
        calls = calls + 1
        return tokens[calls]
      end }
      local t = c:mount_topics({ "orders" })
      local posts = sim.requests("/topics/mount")
      print(calls, t.status, #posts, posts[1].status, posts[2].status)
    ]]))
    assert.are.equal("2\tpending\t2\t401\t200\n", out)
  end)

  it("is kind auth (exit 5) when the renewed token is refused again", function()
    local r = H.run_sim([[
      local calls = 0
      local c = taskrun.redpanda.client{ token = function()
        calls = calls + 1
        return "stale-token-" .. calls
      end }
      local ok, err = pcall(c.mount_tasks, c)
      print(calls, err.kind, err.status, #sim.requests("/mount-tasks"))
      error(err)
    ]])
    assert.are.equal(5, r.code)
    assert.are.equal("2\tauth\t401\t2\n", r.stdout)
    assert.matches("refused again with a renewed token; check the client's token function",
      r.stderr, 1, true)
  end)

  it("is not renewed for a static token: a 401 is the answer at once", function()
    local r = H.run_sim([[
      local c = taskrun.redpanda.client{ token = "stale-token-9" }
      local ok, err = pcall(c.mount_tasks, c)
      print(err.kind, #sim.requests("/mount-tasks"))
    ]])
    assert.are.equal("auth\t1\n", ok(r))
  end)

  it("renews ahead of expiry: a quarter of the lifetime before, at most 5 minutes", function()
    local out = ok(H.run({ script = [[
      local auth = require("taskrun.auth")
      print(auth.renew_after(2), auth.renew_after(60), auth.renew_after(3600),
        auth.renew_after(86400))
    ]] }))
    assert.are.equal("1.5\t45.0\t3300\t86100\n", out)
  end)

  it("renews a token whose renewal time has come before the next request", function()
    local out = ok(H.run_sim([[
      local calls = 0
      local c = taskrun.redpanda.client{ token = function()
        calls = calls + 1
        return "sim-redpanda-token", 0.2
      end }
      c:mount_tasks()
      taskrun.sleep(0.2)   -- past the renewal point (0.15 s)
      c:mount_tasks()
      print(calls)
    ]], { flags = { "--log-level", "debug" } }))
    assert.are.equal("2\n", out)
  end)
end)

describe("a token request that fails", function()
  it("transiently, inside a wait, never ends the wait: it polls on", function()
    local out = ok(H.run_sim([[
      local calls = 0
      local c = taskrun.redpanda.client{ token = function()
        calls = calls + 1
        if calls < 3 then error(taskrun.error("http", "token endpoint 503", { status = 503 })) end
        return "sim-redpanda-token", 3600
      end }
      local t = sim.task({ provider = "redpanda", mode = "poll",
        steps = { "STATE_PLANNED", "STATE_EXECUTING" } })
      local task = taskrun.wait(function() return c:mount_task(t.id) end,
        { interval = "10ms", ["until"] = function(x) return x.state == "STATE_EXECUTING" end })
      print(calls, task.state)
    ]]))
    assert.are.equal("3\tSTATE_EXECUTING\n", out)
  end)

  it("transiently, outside a wait, is tried a few times, then raised", function()
    local out = ok(H.run_sim([[
      local auth = require("taskrun.auth")
      auth.DELAYS = { 0.01, 0.01 }
      local calls = 0
      local c = taskrun.redpanda.client{ token = function()
        calls = calls + 1
        error(taskrun.error("transport", "connection refused", { cause = "connect" }))
      end }
      local ok, err = pcall(c.mount_tasks, c)
      print(calls, err.kind, err.cause, #sim.requests("/mount-tasks"))
    ]]))
    assert.are.equal("3\ttransport\tconnect\t0\n", out)
  end)

  it("with a plain Lua error from the runbook's function is kind auth naming it", function()
    local r = H.run_sim([[
      taskrun.redpanda.client{ token = function() error("vault sealed") end }:mount_tasks()
    ]])
    assert.are.equal(5, r.code)
    assert.matches("redpanda: the client's token function failed: .*vault sealed", r.stderr)
  end)
end)

describe("a token file", function()
  it("is read on first use, and read again when its token is refused (rotated)", function()
    local path = H.write_tmp("tok-file-one-777\n")
    local r = run_own_sim(string.format([[
      local c = taskrun.redpanda.client()
      sim.config({ tokens = { redpanda = "tok-file-one-777" } })
      c:mount_tasks()
      -- the secret is rotated: the vendor accepts only the new one, the file holds it
      sim.config({ tokens = { redpanda = "tok-file-two-888" } })
      local f = assert(io.open(%q, "w")); f:write("tok-file-two-888"); f:close()
      c:mount_tasks()
      local seen = {}
      for _, req in ipairs(sim.requests("/mount-tasks")) do seen[#seen + 1] = req.status end
      print(table.concat(seen, " "))
      print("tok-file-one-777", "tok-file-two-888")
    ]], path), { REDPANDA_TOKEN_FILE = path }, { "REDPANDA_TOKEN" })
    os.remove(path)
    assert.are.equal("200 401 200\n[REDACTED]\t[REDACTED]\n", ok(r))
  end)

  it("that cannot be read is kind usage naming the variable", function()
    local r = run_own_sim("taskrun.redpanda.mount_tasks()",
      { REDPANDA_TOKEN_FILE = "/nonexistent/token" }, { "REDPANDA_TOKEN" })
    assert.are.equal(2, r.code)
    assert.matches("redpanda: REDPANDA_TOKEN_FILE names a file that cannot be read", r.stderr,
      1, true)
  end)
end)

describe("credential settings", function()
  local none = { REDPANDA_TOKEN = false, REDPANDA_TOKEN_FILE = false, REDPANDA_CLIENT_ID = false,
                 REDPANDA_CLIENT_SECRET = false, REDPANDA_CLIENT_SECRET_FILE = false,
                 REDPANDA_DATAPLANE_URL = "http://127.0.0.1:1" }

  it("none set is a usage error naming every variable that would do; exit 2", function()
    -- taskrun["..."]: a use the settings pre-check does not see, so the client's own check
    -- answers (settings_spec covers the pre-check)
    local r = H.run({ script = 'taskrun["redpanda"].mount_tasks()', env = none })
    assert.are.equal(2, r.code)
    assert.matches("usage: redpanda: no credentials: set REDPANDA_TOKEN (or REDPANDA_TOKEN_FILE), "
      .. "or REDPANDA_CLIENT_ID with REDPANDA_CLIENT_SECRET (or REDPANDA_CLIENT_SECRET_FILE), "
      .. "or pass token = ... to redpanda.client{}", r.stderr, 1, true)
    r = H.run({ script = 'taskrun["bluexp"].restore_jobs()', env = { BLUEXP_TOKEN = false,
      BLUEXP_TOKEN_FILE = false, BLUEXP_REFRESH_TOKEN = false, BLUEXP_REFRESH_TOKEN_FILE = false,
      BLUEXP_ACCOUNT_ID = "a", BLUEXP_AGENT_ID = "b" } })
    assert.are.equal(2, r.code)
    assert.matches("set BLUEXP_TOKEN (or BLUEXP_TOKEN_FILE), or BLUEXP_REFRESH_TOKEN (or "
      .. "BLUEXP_REFRESH_TOKEN_FILE)", r.stderr, 1, true)
    r = H.run({ script = "taskrun.astra.tasks()", env = { ASTRA_TOKEN = false,
      ASTRA_TOKEN_FILE = false, ASTRA_ACCOUNT_ID = "a" } })
    assert.matches("no credentials: set ASTRA_TOKEN (or ASTRA_TOKEN_FILE), or pass token = ... "
      .. "to astra.client{}", r.stderr, 1, true)
  end)

  it("a client id without its secret names the one missing", function()
    local env = {}
    for k, v in pairs(none) do env[k] = v end
    env.REDPANDA_CLIENT_ID = "id-1"
    local r = H.run({ script = "taskrun.redpanda.mount_tasks()", env = env })
    assert.are.equal(2, r.code)
    assert.matches("REDPANDA_CLIENT_SECRET (or REDPANDA_CLIENT_SECRET_FILE) is not set, but "
      .. "REDPANDA_CLIENT_ID is", r.stderr, 1, true)
  end)

  it("are taken in order: client option, static token, file, obtained", function()
    local out = ok(H.run({ script = [[
      local auth = require("taskrun.auth")
      local cred = require("taskrun._provider").redpanda.credentials
      local function kind(opts)
        local how = auth.choose("redpanda", cred, opts)
        return how.kind .. " " .. how.label
      end
      print(kind({ token = "x-explicit-1" }))
      print(kind({ token = function() end }))
      print(kind({ client_id = "i", client_secret = "s" }))
      print(kind())
    ]], env = { REDPANDA_TOKEN = "static-tok-1", REDPANDA_TOKEN_FILE = "/tmp/x",
                REDPANDA_CLIENT_ID = "id-1", REDPANDA_CLIENT_SECRET = "sec-1" } }))
    assert.are.equal("static token =\nfunction token = function\n"
      .. "obtained client_secret =\nstatic REDPANDA_TOKEN\n", out)
    out = ok(H.run({ script = [[
      local auth = require("taskrun.auth")
      local cred = require("taskrun._provider").redpanda.credentials
      print(auth.choose("redpanda", cred).kind)
    ]], env = { REDPANDA_TOKEN = false, REDPANDA_TOKEN_FILE = "/tmp/x",
                REDPANDA_CLIENT_ID = "id-1", REDPANDA_CLIENT_SECRET = "sec-1" } }))
    assert.are.equal("file\n", out)
  end)
end)

describe("an obtained token", function()
  -- A token endpoint that answers each connection with the next canned response.
  local function endpoint(...)
    local responses = {}
    for i, body in ipairs({ ... }) do
      local status = body.status or 200
      local text = body.json
      responses[i] = string.format("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
        .. "Content-Length: %d\r\nConnection: close\r\n\r\n%s", status, #text, text)
    end
    return H.start_stub(responses)
  end

  it("is asked for with the client credentials, used, redacted, and logged without it",
    function()
    local stub = endpoint({ json = '{"access_token":"obt-SECRET-tok-42","token_type":"Bearer",'
      .. '"expires_in":3600}' })
    local r = run_own_sim([[
      sim.config({ tokens = { redpanda = "obt-SECRET-tok-42" } })
      print(#taskrun.redpanda.mount_tasks(), "obt-SECRET-tok-42")
    ]], { REDPANDA_CLIENT_ID = "rp-client-1", REDPANDA_CLIENT_SECRET = "rp-SECRET-cs-1",
          REDPANDA_AUTH_URL = stub.url .. "/oauth/token" }, { "REDPANDA_TOKEN" },
      { "--log-level", "debug" })
    stub.stop()
    assert.are.equal("0\t[REDACTED]\n", ok(r))
    assert.matches("redpanda: token obtained from REDPANDA_CLIENT_ID: expires in 3600s, "
      .. "renewed after 3300s", r.stderr, 1, true)
    assert.matches("http POST " .. stub.url .. "/oauth/token", r.stderr, 1, true)
    assert.is_nil(r.stderr:find("SECRET-", 1, true), r.stderr)
  end)

  it("refused by the token endpoint is kind auth (exit 5) with the vendor's words", function()
    local stub = endpoint({ status = 401, json = '{"error":"invalid_client",'
      .. '"error_description":"Unknown client or wrong secret"}' })
    local r = run_own_sim([[
      local ok, err = pcall(taskrun.redpanda.mount_tasks)
      print(err.kind, err.status, err.error, err.error_description)
      error(err)
    ]], { REDPANDA_CLIENT_ID = "rp-client-1", REDPANDA_CLIENT_SECRET = "rp-SECRET-cs-1",
          REDPANDA_AUTH_URL = stub.url .. "/oauth/token" }, { "REDPANDA_TOKEN" })
    stub.stop()
    assert.are.equal(5, r.code)
    assert.are.equal("auth\t401\tinvalid_client\tUnknown client or wrong secret\n", r.stdout)
    assert.matches("answered 401: invalid_client: Unknown client or wrong secret; check "
      .. "REDPANDA_CLIENT_ID, REDPANDA_CLIENT_SECRET", r.stderr, 1, true)
    assert.is_nil(r.stderr:find("rp-SECRET-cs-1", 1, true), r.stderr)
  end)

  it("whose endpoint answers 503, outside a wait, is kind http after a few tries", function()
    local stub = endpoint({ status = 503, json = '{"error":"temporarily_unavailable"}' })
    local r = run_own_sim([[
      require("taskrun.auth").DELAYS = { 0.01, 0.01 }
      local ok, err = pcall(taskrun.bluexp.restore_jobs)
      print(err.kind, err.status, #sim.requests("/restore"))
    ]], { BLUEXP_REFRESH_TOKEN = "bx-SECRET-rt-1", BLUEXP_AUTH_URL = stub.url .. "/oauth/token" },
      { "BLUEXP_TOKEN" })
    stub.stop()
    assert.are.equal("http\t503\t0\n", ok(r))
  end)
end)
