-- taskrun --sim-scenario, --sim-speed and --sim-token-ttl: handed to the simulator --sim starts,
-- and refused as usage errors (exit 2) before it starts.
local H = require("harness")

-- Prints the simulator's own view of its configuration, and whether the scenario's task is there.
local SHOW = [[
local http = require("taskrun.http")
local cfg = http.get(os.getenv("TASKRUN_SIM_URL") .. "/_sim/config"):json()
print("speed", cfg.speed)
print("ttl", cfg.token_ttl_ms.redpanda, cfg.token_ttl_ms.keycard, cfg.token_ttl_ms.bluexp)
local ok, task = pcall(taskrun.redpanda.mount_task, 7)
print("task 7", ok and task.state or tostring(task.kind))
]]

describe("taskrun --sim's simulator options", function()
  it("pass the scenario, the speed and the token lifetime to taskrun-sim", function()
    local r = H.run({ flags = { "--sim", "--sim-scenario", "sim/scenarios/renewal.json",
      "--sim-speed", "4", "--sim-token-ttl", "1500ms" }, script = SHOW })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("speed\t4", r.stdout, 1, true)
    assert.matches("ttl\t1500\t1500\t1500", r.stdout, 1, true)
    assert.matches("task 7\tSTATE_", r.stdout, 1, true)
    -- without them, the simulator's defaults: speed 1, no task 7; the scenario's own lifetime
    r = H.run({ flags = { "--sim" }, script = SHOW })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("speed\t1\n", r.stdout, 1, true)
    assert.matches("task 7\tnot_found", r.stdout, 1, true)
    r = H.run({ flags = { "--sim", "--sim-scenario=sim/scenarios/renewal.json" }, script = SHOW })
    assert.matches("ttl\t2000\t2000\t2000", r.stdout, 1, true)
  end)

  it("are usage errors (exit 2) when bad, before the simulator starts or anything runs",
    function()
      local dir = os.tmpname()
      os.remove(dir)
      for _, flags in ipairs({
        { "--sim-speed", "0" }, { "--sim-speed", "fast" }, { "--sim-speed", "inf" },
        { "--sim-speed", "-2" }, { "--sim-token-ttl", "0s" }, { "--sim-token-ttl", "soon" },
        { "--sim-scenario", dir .. "/missing.json" }, { "--sim-scenario", "sim" },
        { "--sim-speed" },
      }) do
        table.insert(flags, 1, "--sim")
        table.insert(flags, 1, "--log-level=debug")
        local r = H.run({ flags = flags, script = 'print("ran")' })
        assert.are.equal(2, r.code, table.concat(flags, " "))
        assert.are.equal("", r.stdout)
        assert.matches("taskrun: ", r.stderr, 1, true)
        -- the simulator never started: its log would say it listens (debug shows it)
        assert.is_nil(r.stderr:find("listening", 1, true))
      end
      local r = H.run({ flags = { "--sim-speed", "2" }, script = 'print("ran")' })
      assert.are.equal(2, r.code)
      assert.matches("need --sim", r.stderr, 1, true)
    end)

  it("say so when the simulator refuses the scenario's contents; exit 2", function()
    local bad = H.write_tmp('{"speed": "fast"}', ".json")
    local r = H.run({ flags = { "--sim", "--sim-scenario", bad }, script = 'print("ran")' })
    os.remove(bad)
    assert.are.equal(2, r.code)
    assert.are.equal("", r.stdout)
    assert.matches("taskrun-sim refused --sim-scenario", r.stderr, 1, true)
  end)

  it("are in --help", function()
    local r = H.run({ flags = { "--help" } })
    for _, f in ipairs({ "--sim-scenario FILE", "--sim-speed X", "--sim-token-ttl D" }) do
      assert.matches(f, r.stdout, 1, true)
    end
  end)
end)
