-- The settings pre-check: before a runbook's first line runs, every provider it uses has its
-- default client's settings checked, all problems in one message; and `taskrun --check`.
local H = require("harness")

-- An environment where no provider has a single setting (the specs' own may have some).
local EMPTY = {}
for _, v in ipairs({ "REDPANDA_DATAPLANE_URL", "REDPANDA_TOKEN", "REDPANDA_TOKEN_FILE",
  "REDPANDA_CLIENT_ID", "REDPANDA_CLIENT_SECRET", "REDPANDA_CLIENT_SECRET_FILE",
  "KEYCARD_API_URL", "KEYCARD_TOKEN", "KEYCARD_TOKEN_FILE", "KEYCARD_CLIENT_ID",
  "KEYCARD_CLIENT_SECRET", "KEYCARD_CLIENT_SECRET_FILE", "ASTRA_URL", "ASTRA_TOKEN",
  "ASTRA_TOKEN_FILE", "ASTRA_ACCOUNT_ID", "BLUEXP_URL", "BLUEXP_TOKEN", "BLUEXP_TOKEN_FILE",
  "BLUEXP_REFRESH_TOKEN", "BLUEXP_REFRESH_TOKEN_FILE", "BLUEXP_ACCOUNT_ID",
  "BLUEXP_AGENT_ID" }) do
  EMPTY[v] = false
end

local function with(extra)
  local env = {}
  for k, v in pairs(EMPTY) do env[k] = v end
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

-- The lines of `s` that contain `needle` (plain).
local function lines_with(s, needle)
  local n = 0
  for line in s:gmatch("[^\n]+") do
    if line:find(needle, 1, true) then n = n + 1 end
  end
  return n
end

describe("the settings pre-check", function()
  it("refuses a runbook before its first line, naming every missing variable in one message",
    function()
      local path = H.write_tmp(table.concat({
        'print("first line ran")',
        'local rp = require("taskrun.redpanda")',
        'local function later() return taskrun.bluexp.restore_jobs() end',
        'rp.mount_tasks()',
      }, "\n"), ".lua")
      local r = H.run({ script_path = path, env = with() })
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("usage: 5 settings are missing, nothing was run:", r.stderr, 1, true)
      assert.matches(path .. ":2: redpanda: REDPANDA_DATAPLANE_URL is not set", r.stderr, 1, true)
      assert.matches(path .. ":2: redpanda: no credentials: set REDPANDA_TOKEN", r.stderr, 1, true)
      assert.matches(path .. ":3: bluexp: BLUEXP_ACCOUNT_ID is not set", r.stderr, 1, true)
      assert.matches(path .. ":3: bluexp: BLUEXP_AGENT_ID is not set", r.stderr, 1, true)
      assert.matches(path .. ":3: bluexp: no credentials: set BLUEXP_TOKEN", r.stderr, 1, true)
      -- one report: a single "taskrun:" line, the problems on its continuation lines
      assert.are.equal(1, lines_with(r.stderr, "taskrun:"))
    end)

  it("sees require without parentheses, a local alias of taskrun, and -e code", function()
    local r = H.run({ script = 'local k = require "taskrun.keycard"\nprint("ran")',
      env = with() })
    assert.are.equal(2, r.code)
    assert.are.equal("", r.stdout)
    assert.matches(":1: keycard: no credentials: set KEYCARD_TOKEN", r.stderr, 1, true)
    r = H.run({ script = 'local t = require("taskrun")\nprint("ran")\nlocal a = t.astra',
      env = with({ ASTRA_TOKEN = "tok-a1" }) })
    assert.are.equal(2, r.code)
    assert.matches(":3: astra: ASTRA_ACCOUNT_ID is not set", r.stderr, 1, true)
    r = H.run({ flags = { "-e", 'print("ran") taskrun.astra.tasks()' },
      env = with({ ASTRA_TOKEN = "tok-a1" }) })
    assert.are.equal(2, r.code)
    assert.matches("(command line):1: astra: ASTRA_ACCOUNT_ID is not set", r.stderr, 1, true)
  end)

  it("does not count provider names in comments and strings", function()
    local r = H.run({ script = table.concat({
      '-- local rp = require("taskrun.redpanda")',
      '--[[ taskrun.bluexp.restore_jobs() ]]',
      'local s = "taskrun.keycard" .. [[ taskrun.astra ]]',
      'print("ran", s)',
    }, "\n"), env = with() })
    assert.are.equal(0, r.code)
    assert.matches("^ran\t", r.stdout)
  end)

  it("passes a runbook whose providers are configured, and every --sim run", function()
    local r = H.run({ script = 'local rp = taskrun.redpanda\nprint("ran")',
      env = with({ REDPANDA_DATAPLANE_URL = "http://127.0.0.1:1", REDPANDA_TOKEN = "tok-r1" }) })
    assert.are.equal(0, r.code)
    assert.are.equal("ran\n", r.stdout)
    r = H.run({ flags = { "--sim" }, env = with(), script = table.concat({
      'local rp, b = taskrun.redpanda, taskrun.bluexp',
      'local k, a = require("taskrun.keycard"), require("taskrun.astra")',
      'print("ran")' }, "\n") })
    assert.are.equal(0, r.code)
    assert.are.equal("ran\n", r.stdout)
  end)

  it("warns instead of refusing a runbook that builds explicit clients", function()
    local r = H.run({ env = with(), script = table.concat({
      'local rp = taskrun.redpanda',
      'local c = rp.client{ url = "http://127.0.0.1:1", token = "tok-r2" }',
      'print("ran")' }, "\n") })
    assert.are.equal(0, r.code)
    assert.are.equal("ran\n", r.stdout)
    assert.matches("WARN", r.stderr, 1, true)
    assert.matches(":1: redpanda: REDPANDA_DATAPLANE_URL is not set", r.stderr, 1, true)
    -- taskrun.P.client(...) and a client built from a value the scan cannot trace
    r = H.run({ env = with(), script = table.concat({
      'local b = taskrun.bluexp',
      'local function make(mod) return mod.client({ token = "t", account = "a", agent_id = "g",',
      '  url = "http://127.0.0.1:1" }) end',
      'make(b)',
      'print("ran")' }, "\n") })
    assert.are.equal(0, r.code)
    assert.are.equal("ran\n", r.stdout)
    assert.matches(":1: bluexp: BLUEXP_ACCOUNT_ID is not set", r.stderr, 1, true)
  end)

  it("refuses a provider used by default even when another has explicit clients", function()
    local r = H.run({ env = with(), script = table.concat({
      'local c = taskrun.redpanda.client{ url = "http://127.0.0.1:1", token = "tok-r3" }',
      'local k = taskrun.keycard',
      'print("ran")' }, "\n") })
    assert.are.equal(2, r.code)
    assert.are.equal("", r.stdout)
    assert.matches(":2: keycard: no credentials", r.stderr, 1, true)
    assert.matches("WARN.*:1: redpanda: REDPANDA_DATAPLANE_URL is not set", r.stderr)
  end)
end)

describe("taskrun --check", function()
  it("reports settings problems as file:line: message without running; exit 2", function()
    local path = H.write_tmp('print("ran")\nlocal rp = require("taskrun.redpanda")', ".lua")
    local r = H.run({ flags = { "--check", path }, env = with() })
    assert.are.equal(2, r.code)
    assert.are.equal("", r.stdout)
    assert.are.equal(path .. ":2: redpanda: REDPANDA_DATAPLANE_URL is not set; set it to your "
      .. "cluster's data-plane URL (the Control Plane API's dataplane_api.url), or pass url = "
      .. "... to redpanda.client{}\n"
      .. path .. ":2: redpanda: no credentials: set REDPANDA_TOKEN (or REDPANDA_TOKEN_FILE), or "
      .. "REDPANDA_CLIENT_ID with REDPANDA_CLIENT_SECRET (or REDPANDA_CLIENT_SECRET_FILE), or "
      .. "pass token = ... to redpanda.client{}\n", r.stderr)
  end)

  it("exits 0 when the settings are there, and with warnings for explicit clients", function()
    local path = H.write_tmp('local rp = require("taskrun.redpanda")', ".lua")
    local r = H.run({ flags = { "--check", path },
      env = with({ REDPANDA_DATAPLANE_URL = "http://127.0.0.1:1", REDPANDA_TOKEN = "tok-r4" }) })
    assert.are.equal(0, r.code)
    assert.are.equal("", r.stderr)
    path = H.write_tmp('local rp = require("taskrun.redpanda")\n'
      .. 'local c = rp.client{ url = "http://x", token = "t" }', ".lua")
    r = H.run({ flags = { "--check", path }, env = with() })
    assert.are.equal(0, r.code)
    assert.matches(path .. ":1: warning: redpanda: REDPANDA_DATAPLANE_URL is not set",
      r.stderr, 1, true)
  end)

  it("exits 1 for a syntax error, whatever the settings", function()
    local path = H.write_tmp('local rp = require("taskrun.redpanda")\nif then', ".lua")
    local r = H.run({ flags = { "--check", path }, env = with() })
    assert.are.equal(1, r.code)
    assert.matches(":2:", r.stderr, 1, true)
    assert.is_nil(r.stderr:find("REDPANDA_DATAPLANE_URL", 1, true))
  end)
end)
