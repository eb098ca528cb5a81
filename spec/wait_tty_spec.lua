-- The live status block: a wait run under a real pseudo-terminal (script(1) from util-linux)
-- draws it on stderr; not a terminal, NO_COLOR and --quiet each change what a person sees.
-- Under script, stdout and stderr share the terminal, so the runbook's prints and the block
-- arrive in one stream, in the order they were written.
local H = require("harness")

local quote = H.quote

local PRELUDE = 'local sim = dofile("spec/support/simctl.lua")\n'
  .. 'local function job(steps) return sim.task({ provider = "bluexp", mode = "poll", '
  .. 'steps = steps }) end\n'

-- A wait long enough to heartbeat: several reads in a row without a change.
local STEADY = [[
  local j = job({ "PENDING", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS",
                  "IN_PROGRESS", "COMPLETED" })
  print("id " .. j.id)
  taskrun.wait(taskrun.bluexp.job(j.id), { interval = 0.05, max_interval = 0.05,
                                           heartbeat = 0.01 })
  print("done")
]]

local function env_words(env)
  local parts = {}
  for k, v in pairs(env) do
    parts[#parts + 1] = v == false and ("-u " .. k) or (k .. "=" .. quote(v))
  end
  table.sort(parts)
  return table.concat(parts, " ")
end

-- The command that runs script under `taskrun --sim` on a terminal of rows x cols.
local function tty_command(script, opts)
  opts = opts or {}
  local env = { TERM = "xterm", NO_COLOR = false }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local argv = { "./taskrun", "--sim" }
  for _, f in ipairs(opts.flags or {}) do argv[#argv + 1] = quote(f) end
  argv[#argv + 1] = quote(H.write_tmp(PRELUDE .. script, ".lua"))
  local inner = string.format("stty rows %d cols %d; exec %s", opts.rows or 24, opts.cols or 200,
    table.concat(argv, " "))
  return "timeout -k 5 120 env " .. env_words(env) .. " script -qfec " .. quote(inner)
    .. " /dev/null </dev/null"
end

-- Runs it to the end: { code =, out = everything the terminal showed }.
local function tty(script, opts)
  local p = assert(io.popen(tty_command(script, opts), "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  return { code = how == "signal" and 128 + code or code, out = out }
end

local SGR = "\27%[[%d;]*m"   -- a colour (Select Graphic Rendition) sequence

local function id_of(out)
  return assert(out:match("id ([%w-]+)"), "the runbook did not print its job id")
end

-- The terminal's lines as a person would read them: escape sequences gone.
local function visible_lines(out)
  local lines = {}
  for line in out:gsub("\27%[[%d;?]*%a", ""):gmatch("[^\r\n]+") do lines[#lines + 1] = line end
  return lines
end

describe("the live status block", function()
  it("shows the wait's label and coloured state on a terminal, instead of heartbeats", function()
    local r = tty(STEADY)
    assert.are.equal(0, r.code, r.out)
    local label = "bluexp task " .. id_of(r.out)
    -- The first frame is drawn while the first poll is in flight: the state read before it.
    assert.matches(label:gsub("%-", "%%-")
      .. ": \27%[33mPENDING\27%[0m %([%d.]+s, [%dhms]+ left%)", r.out)
    -- the transitions still log, above the block
    assert.matches(label .. ": PENDING -> IN_PROGRESS (", r.out, 1, true)
    assert.is_falsy(r.out:find("still IN_PROGRESS", 1, true))
    -- the block was erased before the runbook went on
    assert.matches("\27%[Jdone\r?\n$", r.out)
  end)

  it("has no colour with NO_COLOR set, only the moves that erase and redraw", function()
    local r = tty(STEADY, { env = { NO_COLOR = "1" } })
    assert.are.equal(0, r.code, r.out)
    assert.matches("bluexp task " .. id_of(r.out) .. ": PENDING (", r.out, 1, true)
    assert.matches(" left)", r.out, 1, true)
    assert.matches("\27[J", r.out, 1, true)
    assert.is_falsy(r.out:find(SGR), "a colour sequence despite NO_COLOR")
  end)

  it("gives plain lines and heartbeats, no escape sequence at all, when not a terminal", function()
    local r = H.run_sim(PRELUDE:gsub("^[^\n]*\n", "") .. STEADY,
      { env = { TERM = "xterm", NO_COLOR = false } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("PENDING -> IN_PROGRESS (", r.stderr, 1, true)
    assert.matches("still IN_PROGRESS (running) after", r.stderr, 1, true)
    assert.is_falsy(r.stderr:find(" left)", 1, true))
    assert.is_falsy(r.stderr:find("\27", 1, true), "an escape sequence on a plain stderr")
  end)

  it("shows nothing at all with --quiet when the wait succeeds", function()
    local r = tty([[
      local j = job({ "PENDING", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" })
      taskrun.wait(taskrun.bluexp.job(j.id), { interval = 0.05, max_interval = 0.05 })
    ]], { flags = { "--quiet" } })
    assert.are.equal(0, r.code, r.out)
    assert.are.equal("", r.out)
  end)

  it("shows a screenful of waits, then a summary of the rest, each cut to the width", function()
    -- 8 rows: 6 for the block (the last log line stays in sight), so 5 waits and a summary.
    local r = tty([[
      local targets = {}
      for i = 1, 12 do
        targets[i] = taskrun.bluexp.job(job({ "PENDING", "IN_PROGRESS", "COMPLETED" }).id)
      end
      taskrun.wait_all(targets, { interval = 0.05, max_interval = 0.05 })
    ]], { rows = 8, cols = 60, flags = { "--log-level", "warn" } })
    assert.are.equal(0, r.code, r.out)
    -- the first frame: every wait has its first snapshot, read before the wait began
    local first = r.out:match("^(.-)\27%[J")
    assert.truthy(first, r.out)
    assert.matches("and 7 more: 7 pending", first, 1, true)
    local waits = 0
    for _ in first:gmatch("bluexp task ") do waits = waits + 1 end
    assert.are.equal(5, waits)
    for _, line in ipairs(visible_lines(r.out)) do
      assert.is_true(#line <= 59, "wider than the terminal: " .. line)
    end
  end)

  it("steps aside for the runbook's own prints to the same terminal", function()
    -- on_change runs just after a transition line, with the block on the screen again.
    local r = tty([[
      local j = job({ "PENDING", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED" })
      taskrun.wait(taskrun.bluexp.job(j.id), { interval = 0.05, max_interval = 0.05,
        on_change = function(t)
          print("changed to " .. t.state)
          io.write("and written\n")
          io.stdout:write("and written again\n")
        end })
    ]])
    assert.are.equal(0, r.code, r.out)
    local seen = 0
    for _, line in ipairs(visible_lines(r.out)) do
      -- nothing of the block on the same line: it was taken away for the write
      if line:find("changed to", 1, true) then
        assert.matches("^changed to [%u_]+$", line)
        seen = seen + 1
      elseif line:find("and written", 1, true) then
        assert.is_true(line == "and written" or line == "and written again", line)
        seen = seen + 1
      end
    end
    assert.is_true(seen >= 9, "the runbook's lines are missing:\n" .. r.out)
  end)

  it("is erased before the message when SIGTERM interrupts the wait", function()
    local p = assert(io.popen(tty_command([[
      local j = job({ "IN_PROGRESS" })
      local f = assert(io.open("/proc/self/stat"))
      print("pid " .. f:read("n"))
      f:close()
      taskrun.wait(taskrun.bluexp.job(j.id), { interval = 30 })
    ]]), "r"))
    -- Read until the block is on the screen; its lines end without a newline.
    local seen = ""
    repeat
      local c = p:read(1)
      seen = seen .. (c or "")
    until not c or seen:find(" left)", 1, true)
    local pid = assert(seen:match("pid (%d+)"), seen)
    assert.matches(": \27[36mIN_PROGRESS\27[0m (", seen, 1, true)
    os.execute("kill -TERM " .. pid)
    local out = seen .. p:read("a")
    local _, how, code = p:close()
    assert.are.equal(143, how == "signal" and 128 + code or code, out)
    -- after the last frame: the erase, then the message
    local last
    for at in out:gmatch("() left%)") do last = at end
    assert.matches("^ left%)\r?\27%[Jtaskrun: interrupted by SIGTERM while waiting on bluexp task",
      out:sub(last))
  end)
end)
