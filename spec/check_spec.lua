-- taskrun --check as a runbook's author meets it: the typos that would otherwise fail at run
-- time (after a restore was started) are each reported as file:line: message, all of them,
-- and nothing runs.
local H = require("harness")

local function check(script, flags)
  local path = H.write_tmp(script, ".lua")
  local argv = { "--check", path }
  for _, f in ipairs(flags or {}) do table.insert(argv, 1, f) end
  local r = H.run({ flags = argv })
  os.remove(path)
  r.path = path
  return r
end

-- The lines of r.stderr, the runbook's path taken off: { "4: message", ... }.
local function problems(r)
  local out = {}
  for line in r.stderr:gmatch("[^\n]+") do
    local rest = line:sub(1, #r.path + 1) == r.path .. ":" and line:sub(#r.path + 2)
    out[#out + 1] = rest or line
  end
  return out
end

describe("taskrun --check", function()
  it("reports a function no taskrun module has, through the global, a local or require", function()
    local r = check(table.concat({
      "local bluexp = taskrun.bluexp",
      "local rp = require('taskrun.redpanda')",
      "local t = require('taskrun')",
      "taskrun.bluexp.start_restor({})",
      "bluexp.start_restor({})",
      "rp.mount_taks(7)",
      "t.wait_al({})",
      "local job = bluexp.job('7')",
      "job:wiat()",
      "rp.client{ url = 'u', token = 'x' }:mount_tsk(1)",
    }, "\n"), { "--sim" })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.same({
      "4: taskrun.bluexp has no start_restor (did you mean start_restore?)",
      "5: taskrun.bluexp has no start_restor (did you mean start_restore?)",
      "6: taskrun.redpanda has no mount_taks (did you mean mount_tasks?)",
      "7: taskrun has no wait_al (did you mean wait_all?)",
      "9: taskrun.Task has no method wiat (did you mean wait?)",
      "10: taskrun.redpanda.Client has no method mount_tsk (did you mean mount_task?)",
    }, problems(r))
  end)

  it("reports an unknown key in a literal options table, for waits, http and clients", function()
    local r = check(table.concat({
      "local bx = taskrun.bluexp",
      "local job = bx.start_restore({ restore = {} }, { versoin = 3 })",
      "job:wait{ timout = '1h' }",
      "taskrun.wait(job, { intervall = '1s' })",
      "local wait_all = taskrun.wait_all",
      "wait_all({ job }, { fail_fats = false })",
      "taskrun.wait_any({ job }, { timeout = '1m', seeed = 1 })",
      "local function poll(task) return task:wait({ heartbeet = '1m' }) end",
      "local http = require('taskrun.http')",
      "http.get('http://example.invalid', { hedaers = {} })",
      "taskrun.http.request{ url = 'u', mehtod = 'GET', timeout = '1s' }",
      "local c = taskrun.redpanda.client{ url = 'u', tokne = 'x' }",
      "taskrun.keycard.client({ request_ids = false })",
      "c:topics{ name_contain = 'orders' }",
    }, "\n"), { "--sim" })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.same({
      '2: unknown option "versoin" for taskrun.bluexp.start_restore (did you mean version?)',
      '3: unknown option "timout" for taskrun.Task:wait (did you mean timeout?)',
      '4: unknown option "intervall" for taskrun.wait (did you mean interval?)',
      '6: unknown option "fail_fats" for taskrun.wait_all (did you mean fail_fast?)',
      '7: unknown option "seeed" for taskrun.wait_any (did you mean seed?)',
      '8: unknown option "heartbeet" for taskrun.Task:wait (did you mean heartbeat?)',
      '10: unknown option "hedaers" for taskrun.http.get (did you mean headers?)',
      '11: unknown option "mehtod" for taskrun.http.request (did you mean method?)',
      '12: unknown option "tokne" for taskrun.redpanda.client (did you mean token?)',
      '13: unknown option "request_ids" for taskrun.keycard.client (did you mean request_id?)',
      '14: unknown option "name_contain" for taskrun.redpanda.Client:topics (did you mean '
        .. 'name_contains?)',
    }, problems(r))
  end)

  it("reports a global that is neither Lua's nor taskrun's, and Lua's own misspelt", function()
    local r = check(table.concat({
      "count = 0                       -- set at the top: the runbook's own global",
      "local function bump() count = count + 1 end",
      "prnit('x')",
      "local s = string.fromat('%d', 1)",
      "bump()",
      "print(taskrun.version:upper(), taskrun.args[1], taskrun.run.attempt, arg[0], s)",
    }, "\n"), { "--sim" })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.same({
      "3: unknown global prnit: not Lua's nor taskrun's (a typo, or a missing local?)",
      "4: accessing undefined field 'fromat' of global 'string'",
    }, problems(r))
  end)

  it("leaves a line that ends in -- luacheck: ignore alone", function()
    local r = check("prnit('x') -- luacheck: ignore\ntaskrun.bluexp.jb('1') -- luacheck: ignore\n"
      .. "local t = taskrun.bluexp.job('1')\nt:wait{ timout = 1 } -- luacheck: ignore\n",
      { "--sim" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("", r.stderr)
  end)

  it("follows a local only while it keeps its value", function()
    local r = check(table.concat({
      "local m = taskrun.bluexp",
      "m = { start_restor = function() end }",
      "m.start_restor()",
      "local ok = taskrun.redpanda",
      "do local ok = {} ok.mount_taks() end",
      "ok.mount_taks()",
    }, "\n"), { "--sim" })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.same({ "6: taskrun.redpanda has no mount_taks (did you mean mount_tasks?)" },
      problems(r))
  end)

  it("passes every example runbook, and runs none of it: no output, no journal, no request",
    function()
      local sim = H.start_sim()
      local state = H.tmpdir()
      local marker = os.tmpname()
      os.remove(marker)
      local env = H.sim_env(sim, { TASKRUN_STATE_DIR = state })
      local p = io.popen("ls scripts/*.lua")
      for script in p:lines() do
        local r = H.run({ flags = { "--check", script }, env = env })
        assert.are.equal(0, r.code, script .. ": " .. r.stderr)
        assert.are.equal("", r.stdout)
        assert.are.equal("", r.stderr)
      end
      p:close()
      local r = H.run({ env = env, flags = { "--check" }, script = table.concat({
        "print('ran')",
        "io.open(" .. string.format("%q", marker) .. ", 'w'):close()",
        "local job = taskrun.bluexp.start_restore({ restore = {} })",
        "taskrun.step('s', function() return 1 end)",
        "job:wait{ timeout = '1m' }",
      }, "\n") })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("", r.stdout)
      assert.is_nil(io.open(marker), "the runbook ran")
      assert.are.same({}, sim.call("GET", "/_sim/requests").requests)
      local ls = io.popen("ls -A " .. H.quote(state))
      assert.are.equal("", ls:read("a"))
      ls:close()
      sim.stop()
      os.execute("rm -rf " .. H.quote(state))
    end)

  it("keeps a syntax error first: exit 1 with file:line, and no other report", function()
    local r = check("prnit('x')\nlocal = 2\n")
    assert.are.equal(1, r.code)
    assert.matches(r.path .. ":2:", r.stderr, 1, true)
    assert.is_falsy(r.stderr:find("prnit", 1, true))
  end)

  it("says so, and checks the rest, when luacheck is not installed", function()
    local r = check("prnit('x')\n", { "--sim" })
    assert.are.equal(1, r.code)
    local path = H.write_tmp("print('x')\n", ".lua")
    local without = H.run({ flags = { "--sim", "--check", path },
                            env = { TASKRUN_LUACHECK_PATH = "/nonexistent/?.lua" } })
    os.remove(path)
    -- Debian installs luacheck for Lua 5.1 only; a luacheck on Lua 5.4's own path would still
    -- be found, and then there is nothing to say.
    if without.stderr ~= "" then
      assert.matches("luacheck (Debian's lua-check) is not installed", without.stderr, 1, true)
    end
    assert.are.equal(0, without.code)
  end)
end)
