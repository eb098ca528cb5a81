-- SIGINT and SIGTERM: cancel everything, run <close> handlers, exit 130/143 at once.
local H = require("harness")

local sleeper = [[
local c <close> = setmetatable({}, { __close = function() print("main closed") end })
taskrun.spawn(function()
  local d <close> = setmetatable({}, { __close = function() print("task closed") end })
  -- Ready only once both <close> handlers exist: the spawned task runs when main sleeps.
  print("ready")
  io.stdout:flush()
  taskrun.sleep(60)
end)
taskrun.sleep(60)
]]

local function interrupt(sig, script)
  local p = H.spawn({ script = script })
  assert.are.equal("ready", p:line())
  local t0 = os.time()
  p:kill(sig)
  local r = p:wait()
  r.seconds = os.time() - t0
  return r
end

describe("signals", function()
  it("SIGTERM during taskrun.sleep(60) exits 143 after closing every task", function()
    local r = interrupt("TERM", sleeper)
    assert.are.equal(143, r.code)
    -- the 60 s sleep did not run out: the signal ended it
    assert.is_true(r.seconds < 30)
    assert.matches("task closed", r.stdout, 1, true)
    assert.matches("main closed", r.stdout, 1, true)
    assert.matches("interrupted by SIGTERM; cancelled 2 tasks", r.stderr, 1, true)
  end)

  it("SIGINT exits 130", function()
    local r = interrupt("INT", sleeper)
    assert.are.equal(130, r.code)
    assert.matches("interrupted by SIGINT", r.stderr, 1, true)
  end)

  it("a second signal exits at once, even while a <close> handler hangs", function()
    local p = H.spawn({ script = [[
      local c <close> = setmetatable({}, { __close = function()
        print("closing") io.stdout:flush()
        while true do end
      end })
      print("ready") io.stdout:flush()
      taskrun.sleep(60)
    ]] })
    assert.are.equal("ready", p:line())
    p:kill("TERM")
    assert.are.equal("closing", p:line())
    p:kill("TERM")
    assert.are.equal(143, p:wait().code)
  end)
end)
