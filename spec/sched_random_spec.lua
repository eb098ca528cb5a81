-- The scheduler under seeded random programs (spec/support/schedgen.lua): each run ends with
-- the exit code its program implies, without a panic, a signal, a sanitizer report or a hang.
--
-- A fixed set of seeds, plus a few fresh ones each run (their seeds are in the test names).
-- More, outside CI:  SEEDS=500 tools/run-specs spec/sched_random_spec.lua
-- One seed again:    SEED=1234 tools/run-specs spec/sched_random_spec.lua
-- (a failure also prints the command that replays its program by hand).
local H = require("harness")
local gen = require("schedgen")

local FIXED = {}
for seed = 1, 120 do FIXED[seed] = seed end
local FRESH = 3

local function fresh(n)
  math.randomseed(os.time(), tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  local out = {}
  for i = 1, n do out[i] = math.random(1000, 2147483000) end
  return out
end

local function seeds()
  if os.getenv("SEED") then return { assert(math.tointeger(tonumber(os.getenv("SEED")))) } end
  if os.getenv("SEEDS") then return fresh(assert(tonumber(os.getenv("SEEDS")))) end
  local list = {}
  for i, s in ipairs(FIXED) do list[i] = s end
  for _, s in ipairs(fresh(FRESH)) do list[#list + 1] = s end
  return list
end

local function sorted_codes(codes)
  local list = {}
  for c in pairs(codes) do list[#list + 1] = c end
  table.sort(list)
  return table.concat(list, " or ")
end

describe("the scheduler under random programs", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() sim.stop() end)

  for _, seed in ipairs(seeds()) do
    it("seed " .. seed, function()
      local source, expect = gen.generate(seed)
      local path = H.write_tmp(source, ".lua")
      local r = H.run({
        script_path = path,
        flags = { "--timeout", "30s" },
        env = { TASKRUN_SIM_URL = sim.url, TASKRUN_MEMORY_LIMIT = expect.memory or false },
      })
      os.remove(path)
      local why = ("seed %d: exit %d, expected %s; replay with:\n  %s\nstderr (end):\n%s")
        :format(seed, r.code, sorted_codes(expect.codes), gen.replay(seed), r.stderr:sub(-3000))
      assert.is_true(r.code < 124, why)   -- 124: the harness's hang limit; above: a signal
      for _, bad in ipairs({ "PANIC", "Sanitizer", "runtime error:", "stack effect",
                             "internal error", "deadlock", "--timeout" }) do
        assert.is_nil(r.stderr:find(bad, 1, true), bad .. " in " .. why)
      end
      assert.is_true(expect.codes[r.code] == true, why)
      if not expect.memory then assert.are.equal("main done\n", r.stdout, why) end
    end)
  end
end)
