-- The obtained flow against taskrun-sim's own token endpoints ({sim}/redpanda/oauth/token,
-- {sim}/service-account-token, {sim}/bluexp/oauth/token), short token lifetimes
-- (--token-ttl) and revocation (DELETE /_sim/tokens).
local H = require("harness")

local OBTAINED = {
  redpanda = { REDPANDA_TOKEN = false, REDPANDA_CLIENT_ID = "sim-redpanda-client",
               REDPANDA_CLIENT_SECRET = "sim-redpanda-secret",
               REDPANDA_AUTH_URL = "{sim}/redpanda/oauth/token" },
  keycard = { KEYCARD_TOKEN = false, KEYCARD_CLIENT_ID = "sim-keycard-client",
              KEYCARD_CLIENT_SECRET = "sim-keycard-secret" },
  bluexp = { BLUEXP_TOKEN = false, BLUEXP_REFRESH_TOKEN = "sim-bluexp-refresh",
             BLUEXP_AUTH_URL = "{sim}/bluexp/oauth/token" },
}
local TOKEN_PATH = { redpanda = "/redpanda/oauth/token", keycard = "/service-account-token",
                     bluexp = "/bluexp/oauth/token" }

local function run(sim, provider, script, extra)
  local env = H.sim_env(sim)
  for k, v in pairs(OBTAINED[provider]) do
    env[k] = type(v) == "string" and v:gsub("{sim}", sim.url) or v
  end
  for k, v in pairs(extra or {}) do env[k] = v end
  return H.run({ env = env, flags = { "--log-level", "debug" },
    script = 'local sim = dofile("spec/support/simctl.lua")\n' .. script })
end


describe("obtained tokens against the simulator", function()
  for _, provider in ipairs({ "redpanda", "keycard", "bluexp" }) do
    -- 1 s is the shortest lifetime the simulator issues (expires_in is whole seconds): renewed
    -- after 0.75 s, so a wait of 3 s sees several renewals.
    it(provider .. ": a wait of 3 s survives several renewals of a 1 s token", function()
      local sim = H.start_sim({ "--token-ttl", "1s" })
      local r = run(sim, provider, string.format([[
        local steps = { redpanda = { "STATE_PLANNED", "STATE_PREPARING", "STATE_EXECUTING",
                                     "STATE_EXECUTED", "STATE_CUT_OVER" },
                        keycard = { "pending", "running", "running", "running", "completed" },
                        bluexp = { "PENDING", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS",
                                   "COMPLETED" } }
        local p = %q
        local t = sim.task({ provider = p, mode = "time", step_ms = 750, zone = "z1",
                             steps = steps[p] })
        local task = ({
          redpanda = function() return taskrun.redpanda.mount_task(t.id) end,
          keycard = function() return taskrun.keycard.catalog_task("z1", t.id) end,
          bluexp = function() return taskrun.bluexp.job(t.id) end })[p]()
        -- Redpanda's last state before it deletes a task is still "running": wait for it.
        local list = steps[p]
        local last = list[#list]
        task = task:wait({ interval = "250ms", max_interval = "250ms", timeout = "1m",
                           ["until"] = function(t) return t.state == last end })
        print(task.status, #sim.requests(%q) >= 4)
      ]], provider, TOKEN_PATH[provider]))
      local s = sim.stop()
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("token renewed", r.stderr, 1, true)
      assert.is_nil(s.stderr:find("sim-" .. provider .. "-secret", 1, true))
    end)
  end

  it("1,000 concurrent waits make at most 2 token requests per lifetime", function()
    local sim = H.start_sim({ "--token-ttl", "2s" })
    local r = run(sim, "redpanda", [[
      local ids = {}
      for i = 1, 1000 do
        ids[i] = sim.task({ provider = "redpanda", mode = "time", step_ms = 1500,
          steps = { "STATE_PLANNED", "STATE_EXECUTING", "STATE_EXECUTED" } }).id
      end
      local targets = {}
      for i, id in ipairs(ids) do
        targets[i] = function() return taskrun.redpanda.mount_task(id) end
      end
      local t0 = taskrun.now()
      taskrun.wait_all(targets, { interval = "500ms", timeout = "1m",
        ["until"] = function(t) return t.state == "STATE_EXECUTED" end })
      local lifetimes = math.ceil((taskrun.now() - t0) / 2)
      print(#sim.requests("/redpanda/oauth/token") <= 2 * lifetimes)
    ]])
    sim.stop()
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("true\n", r.stdout)
  end)

  it("a token revoked mid-wait is renewed once and the wait goes on", function()
    local sim = H.start_sim()
    local r = run(sim, "bluexp", [[
      local t = sim.task({ provider = "bluexp", mode = "poll",
        steps = { "PENDING", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" } })
      local polls = 0
      local task = taskrun.wait(function()
        polls = polls + 1
        if polls == 2 then taskrun.http.delete(sim.url .. "/_sim/tokens") end
        return taskrun.bluexp.job(t.id)
      end, { interval = "10ms" })
      print(task.status, #sim.requests("/bluexp/oauth/token"))
    ]])
    sim.stop()
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("succeeded\t2\n", r.stdout)
  end)

  it("a wrong client secret exits 5 with the vendor's error_description", function()
    local sim = H.start_sim()
    local r = run(sim, "redpanda", "taskrun.redpanda.mount_tasks()",
      { REDPANDA_CLIENT_SECRET = "wrong-SECRET-xyz" })
    sim.stop()
    assert.are.equal(5, r.code)
    assert.matches("auth: redpanda: the token endpoint POST .* answered 401: invalid_client",
      r.stderr)
    assert.is_nil(r.stderr:find("wrong-SECRET-xyz", 1, true))
  end)

  it("taskrun --sim takes the obtained path for every renewable provider", function()
    local r = H.run({ flags = { "--sim", "--log-level", "debug" },
      env = { REDPANDA_TOKEN = false, KEYCARD_TOKEN = false, BLUEXP_TOKEN = false },
      script = "taskrun.redpanda.mount_tasks(); taskrun.bluexp.restore_jobs()" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("redpanda: token obtained from REDPANDA_CLIENT_ID", r.stderr, 1, true)
    assert.matches("bluexp: token obtained from BLUEXP_REFRESH_TOKEN", r.stderr, 1, true)
  end)
end)
