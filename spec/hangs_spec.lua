-- Runs that must not hang: a signal or --timeout stops Lua code that never yields and the
-- commands a runbook runs; os.execute and io.popen leave the other tasks running; commands
-- start with a clean signal state. A run that does not stop fails by the harness's hang limit
-- or by the command outliving it ("survived").
local H = require("harness")

-- Starts a runbook, waits for the "ready" line it prints, then signals it.
local function interrupt(sig, script, flags)
  local p = H.spawn({ script = script, flags = flags })
  assert.are.equal("ready", p:line())
  p:kill(sig)
  return p:wait()
end

local READY = 'print("ready") io.stdout:flush()\n'

describe("a Lua loop that never yields", function()
  it("stops on SIGTERM with 143, and its <close> handlers run", function()
    local r = interrupt("TERM", [[
      local c <close> = setmetatable({}, { __close = function() print("closed") end })
    ]] .. READY .. [[
      while true do end
    ]])
    assert.are.equal(143, r.code)
    assert.matches("closed", r.stdout, 1, true)
    assert.matches("interrupted by SIGTERM; cancelled 1 task", r.stderr, 1, true)
  end)

  it("stops on SIGINT with 130 although a pcall catches every error inside it", function()
    local r = interrupt("INT", READY .. [[
      while true do pcall(function() while true do end end) end
    ]])
    assert.are.equal(130, r.code)
    assert.matches("interrupted by SIGINT", r.stderr, 1, true)
  end)

  it("stops inside a spawned task, whose <close> handler runs", function()
    local r = interrupt("TERM", [[
      local h = taskrun.spawn(function()
        local c <close> = setmetatable({}, { __close = function() print("task closed") end })
    ]] .. READY .. [[
        while true do end
      end)
      h:join()
    ]])
    assert.are.equal(143, r.code)
    assert.matches("task closed", r.stdout, 1, true)
    assert.matches("cancelled 2 tasks", r.stderr, 1, true)
  end)

  it("stops inside a runbook's own coroutine, whose <close> handler runs", function()
    local r = interrupt("INT", [[
      local co = coroutine.wrap(function()
        local c <close> = setmetatable({}, { __close = function() print("coroutine closed") end })
    ]] .. READY .. [[
        while true do end
      end)
      co()
    ]])
    assert.are.equal(130, r.code)
    assert.matches("coroutine closed", r.stdout, 1, true)
  end)

  it("stops where Lua cannot yield (a table.sort comparator)", function()
    local r = interrupt("TERM", READY .. [[
      table.sort({ 3, 2, 1 }, function(a, b) while true do end end)
    ]])
    assert.are.equal(143, r.code)
    assert.matches("interrupted by SIGTERM", r.stderr, 1, true)
  end)

  it("ends the run at once when it catches every stop where Lua cannot yield", function()
    local r = interrupt("TERM", READY .. [[
      table.sort({ 3, 2, 1 }, function()
        while true do pcall(function() while true do end end) end
      end)
    ]])
    assert.are.equal(143, r.code)
    assert.matches("interrupted by SIGTERM; Lua code that catches every error where it cannot "
      .. "yield", r.stderr, 1, true)
  end)

  it("stops when --timeout runs out: exit 4", function()
    local r = H.run({ flags = { "--timeout", "1s" }, script = "while true do end" })
    assert.are.equal(4, r.code)
    assert.matches("--timeout 1s ran out", r.stderr, 1, true)
  end)

  it("stops a pcall loop when --timeout runs out", function()
    local r = H.run({ flags = { "--timeout", "1s" }, script = [[
      local c <close> = setmetatable({}, { __close = function() print("closed") end })
      while true do pcall(function() while true do end end) end
    ]] })
    assert.are.equal(4, r.code)
    assert.matches("closed", r.stdout, 1, true)
  end)
end)

describe("os.execute and io.popen", function()
  it("SIGTERM during os.execute stops the command and exits 143", function()
    local r = interrupt("TERM", [[
      os.execute("echo ready; sleep 60; echo survived")
      print("os.execute returned")
    ]])
    assert.are.equal(143, r.code)
    assert.is_nil(r.stdout:find("survived", 1, true))
    assert.is_nil(r.stdout:find("returned", 1, true))
    assert.matches("interrupted by SIGTERM", r.stderr, 1, true)
  end)

  it("SIGINT during an io.popen read stops the command and exits 130", function()
    local r = interrupt("INT", [[
      local f = io.popen("echo ready; sleep 60; echo survived")
      print(f:read("l")) io.stdout:flush()
      print(f:read("a"))
    ]])
    assert.are.equal(130, r.code)
    assert.is_nil(r.stdout:find("survived", 1, true))
  end)

  it("--timeout stops a command: exit 4", function()
    local r = H.run({ flags = { "--timeout", "1s" }, script = [[
      os.execute("sleep 60; echo survived")
    ]] })
    assert.are.equal(4, r.code)
    assert.is_nil(r.stdout:find("survived", 1, true))
    assert.matches("--timeout 1s ran out", r.stderr, 1, true)
  end)

  it("other tasks run while a task waits on a command or its pipe", function()
    -- The reader's command ends only once the writer task has run a command of its own.
    local r = H.run({ script = [[
      local dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir " .. dir .. " && mkfifo " .. dir .. "/fifo"))
      local reader = taskrun.spawn(function()
        return io.popen("cat " .. dir .. "/fifo"):read("a")
      end)
      local writer = taskrun.spawn(function()
        return os.execute("echo go > " .. dir .. "/fifo")
      end)
      print(writer:join())
      io.write("read: ", reader:join())
      os.execute("rm -r " .. dir)
    ]] })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("true\texit\t0\nread: go\n", r.stdout)
  end)

  it("keep Lua's return conventions", function()
    local r = H.run({ script = [[
      print(os.execute("exit 3"))
      print(os.execute("kill -TERM $$"))
      print(os.execute())
      local f = io.popen("printf 'a\\nb\\n  12.5e1 rest\\n0x1F tail'")
      print(io.type(f), f:read("l"), f:read("L"), f:read("n"), f:read(5), f:read("n", "a"))
      print(f:read("a"), f:read("l"), f:read(0), f:close())
      print(io.type(f), pcall(f.read, f))
      print(io.popen("exit 7"):close())
      local sum = 0
      for l in io.popen("seq 1 100"):lines() do sum = sum + tonumber(l) end
      for a, b in io.popen("printf '1 2\\n3 4\\n'"):lines("n", "n") do sum = sum + a * b end
      print(sum)
      local out = os.tmpname()
      local w = io.popen("cat > " .. out, "w")
      print(w:write("hello ", 42, "\n") == w, w:read("l"))
      print(w:close())
      print(io.open(out):read("a"))
      os.remove(out)
    ]] })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(table.concat({
      "nil\texit\t3",
      "nil\tsignal\t15",
      "true",
      "file\ta\tb\n\t125.0\t rest\t31\t tail",
      "\tnil\tnil\ttrue\texit\t0",
      "closed file\tfalse\tattempt to use a closed file",
      "nil\texit\t7",
      "5064",
      "true\tnil\tBad file descriptor\t9",
      "true\texit\t0",
      "hello 42",
      "",
      "",
    }, "\n"), r.stdout)
  end)

  it("where Lua cannot yield, os.execute blocks as plain Lua does", function()
    local r = H.run({ script = [[
      local t = { 3, 1, 2 }
      table.sort(t, function(a, b) assert(os.execute("true")) return a < b end)
      print(table.concat(t, " "))
    ]] })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("1 2 3\n", r.stdout)
  end)

  it("a second SIGTERM exits at once and still kills the command's process group", function()
    -- The command ignores SIGTERM, and the first signal's <close> handler never returns.
    local p = H.spawn({ script = [[
      local c <close> = setmetatable({}, { __close = function()
        print("closing") io.stdout:flush()
        while true do end
      end })
      os.execute("trap '' TERM; echo ready; sleep 60; echo survived")
    ]] })
    assert.are.equal("ready", p:line())
    p:kill("TERM")
    assert.are.equal("closing", p:line())
    p:kill("TERM")
    local r = p:wait()
    assert.are.equal(143, r.code)
    assert.is_nil(r.stdout:find("survived", 1, true))
  end)
end)

describe("a command's signal state", function()
  it("is the default: a pipeline whose reader quits ends (SIGPIPE)", function()
    local r = H.run({ script = [[
      print(os.execute("while :; do echo x; done | head -1"))
      print(io.popen("yes | head -1"):read("a"))
    ]] })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("x\ntrue\texit\t0\ny\n\n", r.stdout)
  end)

  it("blocks nothing and does not ignore SIGPIPE", function()
    local r = H.run({ script = [[
      io.write(io.popen("grep -E '^Sig(Blk|Ign)' /proc/self/status"):read("a"))
    ]] })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("SigBlk:%s+0+\n", r.stdout)
    -- Signals ignored where the specs run are inherited as they should be; SIGPIPE (13) is not.
    local ignored = tonumber(r.stdout:match("SigIgn:%s+(%x+)"), 16)
    assert.are.equal(0, (ignored >> 12) & 1)
  end)
end)

describe("a signal while --sim starts the simulator", function()
  -- A taskrun next to a taskrun-sim that signals it instead of printing its URL.
  local function run_with_signalling_sim(sig)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir .. " && cp ./taskrun " .. dir .. "/taskrun"))
    local f = assert(io.open(dir .. "/taskrun-sim", "w"))
    f:write("#!/bin/sh\nkill -" .. sig .. " $PPID\nexec sleep 60\n")
    f:close()
    assert(os.execute("chmod +x " .. dir .. "/taskrun-sim"))
    local errpath = os.tmpname()
    local p = assert(io.popen("timeout -k 5 120 " .. dir .. "/taskrun --sim -e 'print(1)' 2>"
      .. errpath .. " </dev/null", "r"))
    local out = p:read("a")
    local _, how, code = p:close()
    local err = H.read_file(errpath)
    os.remove(errpath)
    os.execute("rm -r " .. dir)
    return { code = how == "signal" and 128 + code or code, stdout = out, stderr = err }
  end

  it("SIGINT exits 130 saying so", function()
    local r = run_with_signalling_sim("INT")
    assert.are.equal(130, r.code)
    assert.are.equal("", r.stdout)
    assert.matches("interrupted by SIGINT", r.stderr, 1, true)
    assert.is_nil(r.stderr:find("did not start", 1, true))
  end)

  it("SIGTERM exits 143", function()
    local r = run_with_signalling_sim("TERM")
    assert.are.equal(143, r.code)
    assert.matches("interrupted by SIGTERM", r.stderr, 1, true)
  end)
end)
