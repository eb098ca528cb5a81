-- Tokens never reach the output: not stdout, not stderr, not at --log-level debug, not in JSON
-- logs, whatever the server answers (success, 404, no server, 5xx, 429, 401).
local H = require("harness")

-- Distinctive tokens, so a leak of any of them, or of a piece, is found by "SECRET".
local TOKENS = {
  REDPANDA_TOKEN = "tok-rp-SECRET-1234", KEYCARD_TOKEN = "tok-kc-SECRET-5678",
  ASTRA_TOKEN = "tok-as-SECRET-9012", BLUEXP_TOKEN = "tok-bx-SECRET-3456",
}
-- A token of the runbook's own, given to explicit clients, that the server refuses.
local WRONG = "tok-wrong-SECRET-0000"

local PROVIDERS = { "redpanda", "keycard", "astra", "bluexp" }

-- Calls each provider's functions down every path a token could leak by, printing results
-- and errors with tostring (stdout is not redacted: only taskrun's own logs are), and logging
-- each error too. Ends with an uncaught 401, so the error report on stderr is covered.
local RUNBOOK = [[
local sim = dofile("spec/support/simctl.lua")
local redpanda, keycard = taskrun.redpanda, taskrun.keycard
local astra, bluexp = taskrun.astra, taskrun.bluexp
local providers = { "redpanda", "keycard", "astra", "bluexp" }

local function try(what, f, ...)
  local ok, res = pcall(f, ...)
  print(what .. ": " .. (ok and "ok " or "") .. tostring(res))
  if not ok then taskrun.log.warn(what .. " failed", { error = tostring(res) }) end
  return ok and res or nil
end

local function wait(task)
  return taskrun.wait(task, { interval = "50ms", backoff = 1, timeout = "20s" })
end

-- The module itself, or a client made with opts that is called the same way.
local function api(mod, opts)
  if not opts then return mod end
  local c = mod.client(opts)
  return setmetatable({}, { __index = function(_, name)
    return function(...) return c[name](c, ...) end
  end })
end

-- One call of each provider, through the default clients or clients made with opts.
local function each(label, opts)
  local function call(mod) return api(mod, opts) end
  try("redpanda " .. label, function() return #call(redpanda).mount_tasks() end)
  try("keycard " .. label, function() return call(keycard).catalog_task("z1", "nosuchtask") end)
  try("astra " .. label, function() return #call(astra).tasks() end)
  try("bluexp " .. label, function() return #call(bluexp).restore_jobs() end)
end

local function fault_all(kind)
  for _, p in ipairs(providers) do sim.fault({ provider = p, kind = kind }) end
end

-- Tasks move on at each read, so the waits below end at once.
sim.config({ mode = "poll" })
local restore = { restore = { type = "volume", source = {}, target = {} } }

try("redpanda wait", wait, redpanda.mount_topics({ "orders" }))
local unmount = redpanda.unmount_topics({ "orders" })
try("redpanda update", redpanda.update_mount_task, unmount.id, "prepare")
try("redpanda delete", redpanda.delete_mount_task, unmount.id)
local installed = try("keycard wait", wait, keycard.install("z1", { package_id = "pkg_linear" }))
try("keycard get_install", function() return keycard.get_install("z1", installed.install_id).id end)
try("keycard uninstall", keycard.uninstall, "z1", installed.install_id)
try("astra wait", wait, astra.backup("app-1"))
local job = try("bluexp wait", wait, bluexp.start_restore(restore))
try("bluexp restore_job", bluexp.restore_job, job.id)

try("redpanda 404", redpanda.mount_task, 999999)
try("keycard 404", keycard.catalog_task, "z1", "nosuchtask")
try("astra 404", astra.task, "nosuchtask")
try("bluexp 404", bluexp.job, "nosuchjob")

each("transport", { url = "http://127.0.0.1:1" })   -- nothing listens on port 1

fault_all("server_error")
each("503")
fault_all("rate_limit")
each("429")
fault_all("expired_token")
each("expired")
each("wrong", { token = os.getenv("WRONG_TOKEN") })

-- The simulator rotates every token: the runbook's tokens are now refused, mid-wait too.
local pending = bluexp.start_restore(restore)
sim.config({ tokens = { redpanda = "rotated-rp", keycard = "rotated-kc", astra = "rotated-as",
                        bluexp = "rotated-bx" } })
try("bluexp wait", wait, pending)
each("401")
print("last: an uncaught 401")
io.stdout:flush()
bluexp.restore_jobs()
]]

-- The runbook went down every path: otherwise a clean output would prove nothing.
local KIND_OF = { ["404"] = "not_found", transport = "transport", ["503"] = "http",
                  ["429"] = "http", expired = "auth", wrong = "auth", ["401"] = "auth" }

local function assert_walked(r)
  assert.are.equal(5, r.code, r.stderr)
  local out = "\n" .. r.stdout
  for _, call in ipairs({ "redpanda update: ok redpanda task", "redpanda delete: ok true",
                          "keycard get_install: ok ", "keycard uninstall: ok keycard task",
                          "bluexp restore_job: ok bluexp task" }) do
    assert.matches("\n" .. call, out, 1, true)
  end
  for _, p in ipairs(PROVIDERS) do
    assert.matches("\n" .. p .. " wait: ok " .. p .. " task", out)
    for label, kind in pairs(KIND_OF) do
      assert.matches("\n" .. p .. " " .. label .. ": " .. kind .. ": ", out)
    end
  end
  for _, answer in ipairs({ "answered 404", "answered 503", "answered 429", "answered 401",
                            "failed: Failed to connect", "last: an uncaught 401" }) do
    assert.matches(answer, out, 1, true)
  end
  -- debug was on: every request was logged; the uncaught 401 was reported
  assert.matches("http GET http://127.0.0.1:%d+/v1/cloud%-storage/mount%-tasks", r.stderr)
  assert.matches("auth: bluexp: GET", r.stderr, 1, true)
end

local function assert_absent(tokens, where, text)
  for name, token in pairs(tokens) do
    assert.is_nil(text:find(token, 1, true), name .. " appears in " .. where .. ":\n" .. text)
  end
end

-- Runs the runbook against a simulator started here, which accepts only TOKENS.
local function run_with_own_tokens(flags)
  local scenario = H.write_tmp(string.format(
    '{"tokens":{"redpanda":%q,"keycard":%q,"astra":%q,"bluexp":%q}}', TOKENS.REDPANDA_TOKEN,
    TOKENS.KEYCARD_TOKEN, TOKENS.ASTRA_TOKEN, TOKENS.BLUEXP_TOKEN), ".json")
  local sim = H.start_sim({ "--scenario", scenario })
  local env = H.sim_env(sim, TOKENS)
  env.WRONG_TOKEN = WRONG
  local ok, r = pcall(H.run, { flags = flags, script = RUNBOOK, env = env })
  local sim_result = sim.stop()
  os.remove(scenario)
  assert(ok, r)
  return r, sim_result
end

describe("tokens in output", function()
  it("a runbook that prints a token itself shows it: stdout is not filtered, so the greps "
    .. "below can see a leak", function()
    local r = H.run({ script = 'print(os.getenv("REDPANDA_TOKEN"))',
                      env = { REDPANDA_TOKEN = TOKENS.REDPANDA_TOKEN } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches(TOKENS.REDPANDA_TOKEN, r.stdout, 1, true)
  end)

  it("given every kind of answer, no token appears with --log-level debug", function()
    local r, sim = run_with_own_tokens({ "--log-level", "debug" })
    assert_walked(r)
    assert.matches("DEBUG http GET", r.stderr, 1, true)
    for where, text in pairs({ stdout = r.stdout, stderr = r.stderr,
                               ["the simulator's stderr"] = sim.stderr }) do
      assert_absent(TOKENS, where, text)
      assert.is_nil(text:find("SECRET", 1, true), "a piece of a token in " .. where)
    end
  end)

  it("given every kind of answer, no token appears in JSON logs at debug level", function()
    local r = run_with_own_tokens({ "--log-level", "debug", "--log-format", "json" })
    assert_walked(r)
    assert.matches('{"time":"[^"]+","level":"debug","msg":"http GET ', r.stderr)
    for where, text in pairs({ stdout = r.stdout, stderr = r.stderr }) do
      assert_absent(TOKENS, where, text)
      assert.is_nil(text:find("SECRET", 1, true), "a piece of a token in " .. where)
    end
  end)

  it("under --sim at debug level, where the simulator's log joins stderr, no token appears",
    function()
    local r = H.run({ flags = { "--sim", "--log-level", "debug" }, script = RUNBOOK,
                      env = { WRONG_TOKEN = WRONG } })
    assert_walked(r)
    -- the simulator's own log is there too
    assert.matches("taskrun-sim: listening on", r.stderr, 1, true)
    local sim_tokens = H.sim_env({ url = "" })
    local known = { REDPANDA_TOKEN = sim_tokens.REDPANDA_TOKEN,
                    KEYCARD_TOKEN = sim_tokens.KEYCARD_TOKEN, ASTRA_TOKEN = sim_tokens.ASTRA_TOKEN,
                    BLUEXP_TOKEN = sim_tokens.BLUEXP_TOKEN, WRONG = WRONG }
    assert_absent(known, "stdout", r.stdout)
    assert_absent(known, "stderr", r.stderr)
  end)
end)
