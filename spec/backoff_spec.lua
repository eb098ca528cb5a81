-- The delay schedule of taskrun.wait, as a pure function: exact delays for a seed, no clock.
local H = require("harness")

local function delays(opts, seed, n)
  local r = H.run({ script = string.format([[
    local backoff = require("taskrun.backoff")
    local it = backoff.delays(%s, %d)
    local out = {}
    for i = 1, %d do out[i] = string.format("%%.3f", it()) end
    print(table.concat(out, " "))
  ]], opts, seed, n) })
  assert.are.equal(0, r.code, r.stderr)
  local list = {}
  for d in r.stdout:gmatch("%S+") do list[#list + 1] = tonumber(d) end
  return list, r.stdout
end

describe("the wait's delay schedule", function()
  local jittered = "{ interval = 2, max_interval = 30, backoff = 2, jitter = true }"

  it("gives the same delays for the same seed", function()
    local _, a = delays(jittered, 42, 12)
    local _, b = delays(jittered, 42, 12)
    assert.are.equal(a, b)
    assert.are.equal("3.921 3.978 5.497 8.299 25.476 28.884 24.929 17.362 25.022 20.927 "
      .. "15.721 20.468\n", a)
  end)

  it("keeps every delay within [interval, max_interval], jitter on even at the cap", function()
    local list = delays(jittered, 7, 200)
    local distinct, at_cap = {}, 0
    for i, d in ipairs(list) do
      assert.is_true(d >= 2 and d <= 30, "delay " .. i .. " = " .. d)
      distinct[d] = true
      if i > 5 and d < 30 then at_cap = at_cap + 1 end
    end
    local n = 0
    for _ in pairs(distinct) do n = n + 1 end
    assert.is_true(n > 100, "delays are not spread: " .. n .. " distinct values")
    assert.is_true(at_cap > 100, "jitter is off at the cap")
  end)

  it("spreads waits started together: different seeds, different delays", function()
    local a = delays(jittered, 1, 8)
    local b = delays(jittered, 2, 8)
    assert.are_not.same(a, b)
  end)

  it("jitters the first delay too, upward from interval toward the second rung", function()
    local firsts = {}
    for seed = 1, 20 do
      local d = delays(jittered, seed, 1)[1]
      assert.is_true(d >= 2 and d <= 4, "first delay " .. d .. " for seed " .. seed)
      firsts[d] = true
    end
    local n = 0
    for _ in pairs(firsts) do n = n + 1 end
    assert.is_true(n >= 15, "first delays are not spread: " .. n .. " distinct of 20")
  end)

  it("grows by the backoff factor up to the cap without jitter", function()
    local list = delays("{ interval = 1, max_interval = 10, backoff = 3, jitter = false }", 5, 5)
    assert.are.same({ 1, 3, 9, 10, 10 }, list)
    list = delays("{ interval = 2, max_interval = 2, backoff = 2, jitter = true }", 5, 3)
    assert.are.same({ 2, 2, 2 }, list)
  end)
end)
