-- taskrun-sim as a command: flags, exit codes, scenario files, the request log file, --seed.
local H = require("harness")
local cjson = require("cjson")

-- Runs ./taskrun-sim to completion (for flags that make it exit at once).
local function sim_cli(args)
  local errpath = os.tmpname()
  local p = assert(io.popen("./taskrun-sim " .. args .. " 2>" .. errpath .. " </dev/null", "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local err = H.read_file(errpath)
  os.remove(errpath)
  return { code = code, stdout = out, stderr = err }
end

-- Runs a runbook against sim and returns its stdout.
local function run(sim, script)
  local r = H.run({ env = H.sim_env(sim), script = "local http = require('taskrun.http')\n"
    .. "local json = require('taskrun.json')\nlocal base = os.getenv('TASKRUN_SIM_URL')\n" .. script })
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout
end

describe("taskrun-sim command line", function()
  it("prints usage for --help and exits 0", function()
    local r = sim_cli("--help")
    assert.are.equal(0, r.code)
    assert.matches("usage: taskrun%-sim", r.stdout)
  end)

  it("refuses bad flags on stderr with exit 2", function()
    for _, args in ipairs({ "--bogus", "--port", "--port abc", "--port 70000", "--speed 0",
                            "--threads 0", "--seed x", "--host not-an-ip" }) do
      local r = sim_cli(args)
      assert.are.equal(2, r.code, args)
      assert.are.equal("", r.stdout, args)
      assert.matches("taskrun%-sim: ", r.stderr, 1)
    end
  end)

  it("prints its base URL first, and exits 0 on SIGTERM", function()
    local sim = H.start_sim({ "--threads", "3", "--speed", "10" })
    assert.matches("^http://127%.0%.0%.1:%d+$", sim.url)
    local r = sim.stop()
    assert.are.equal(0, r.code)
    assert.are.equal("", r.stdout)
  end)

  it("loads a scenario file: settings, tasks and faults, and reloads its tasks on reset", function()
    local path = H.write_tmp(cjson.encode({
      mode = "poll", redpanda_body = "bare", tokens = { redpanda = "scenario-token" },
      tasks = { { provider = "redpanda", id = 11, steps = { "STATE_EXECUTING", "STATE_CUT_OVER" } } },
      faults = { { kind = "rate_limit", path = "/v1/cloud-storage/mount-tasks/11", count = 1 } },
    }), ".json")
    local sim = H.start_sim({ "--scenario", path })
    local script = [[
      local auth = { Authorization = "Bearer scenario-token" }
      local url = base .. "/v1/cloud-storage/mount-tasks/11"
      local function get() local r = http.get(url, { headers = auth })
        return r.status == 200 and r:json().state or r.status end
      io.write(get(), " ", get(), " ", get(), " ", get(), " ")
      http.post(base .. "/_sim/reset")
      print(get(), get())
    ]]
    local out = run(sim, script)
    sim.stop()
    os.remove(path)
    assert.are.equal("429 STATE_EXECUTING STATE_CUT_OVER STATE_CUT_OVER 429\tSTATE_EXECUTING\n", out)
  end)

  it("loads the example scenario shipped in sim/scenarios", function()
    for name in io.popen("ls sim/scenarios/*.json"):lines() do
      local sim = H.start_sim({ "--scenario", name })
      local out = run(sim, [[print(#http.get(base .. "/_sim/tasks"):json().tasks > 0)]])
      assert.are.equal(0, sim.stop().code)
      assert.are.equal("true\n", out, name)
    end
  end)

  it("refuses a scenario that is not JSON or not valid, with exit 2", function()
    local bad = { "{not json", '{"tasks":[{"provider":"nobody"}]}', '{"faults":[{"kind":"x"}]}',
                  '{"speed":-1}', "[]" }
    for _, text in ipairs(bad) do
      local path = H.write_tmp(text, ".json")
      local r = sim_cli("--port 0 --scenario " .. path)
      os.remove(path)
      assert.are.equal(2, r.code, text)
      assert.matches("scenario", r.stderr)
    end
  end)

  it("writes the request log as JSON lines, with no token in it", function()
    local log = os.tmpname()
    local sim = H.start_sim({ "--request-log", log })
    run(sim, [[
      http.get(base .. "/v1/cloud-storage/mount-tasks/1",
        { headers = { Authorization = "Bearer sim-redpanda-token" }, query = { a = "b" } })
      http.get(base .. "/zones/z/catalog_tasks/t", { headers = { Authorization = "Bearer sim-keycard-token" } })
    ]])
    assert.are.equal(0, sim.stop().code)
    local text = H.read_file(log)
    os.remove(log)
    assert.is_nil(text:find("sim-redpanda-token", 1, true))
    assert.is_nil(text:find("sim-keycard-token", 1, true))
    local entries = {}
    for line in text:gmatch("[^\n]+") do entries[#entries + 1] = cjson.decode(line) end
    assert.are.equal(2, #entries)
    assert.are.equal("/v1/cloud-storage/mount-tasks/1", entries[1].path)
    assert.are.equal("a=b", entries[1].query)
    assert.are.equal("Bearer [redacted]", entries[1].headers.authorization)
    assert.are.equal("keycard", entries[2].provider)
  end)

  it("repeats IDs and random fault choices under the same --seed", function()
    local script = [[
      local auth = { Authorization = "Bearer sim-keycard-token" }
      http.post(base .. "/_sim/faults", { json = { kind = "server_error", probability = 0.5,
        count = -1, path = "/zones/z/catalog_tasks/*" } })
      local task = http.post(base .. "/zones/z/installs", { headers = auth,
        json = { package_id = "pkg_x" } }):json()
      local codes = {}
      for i = 1, 24 do
        codes[i] = http.get(base .. "/zones/z/catalog_tasks/" .. task.id, { headers = auth }).status
      end
      print(task.id, task.install_id, table.concat(codes, ","))
    ]]
    local outs = {}
    for i = 1, 2 do
      local sim = H.start_sim({ "--seed", "42" })
      outs[i] = run(sim, script)
      sim.stop()
    end
    assert.are.equal(outs[1], outs[2])
    assert.matches("503", outs[1])
    assert.matches("200", outs[1])
  end)
end)
