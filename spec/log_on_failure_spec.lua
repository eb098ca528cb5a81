-- --log-on-failure, as chronic does it for cron: a run that goes well prints nothing on
-- stderr; a run that fails prints the whole story, in order, from memory (the latest 1 MiB).
local H = require("harness")
local json = require("cjson")

local function run(code, flags)
  local f = { "--no-journal", "--log-on-failure" }
  for _, x in ipairs(flags or {}) do f[#f + 1] = x end
  f[#f + 1] = "-e"
  f[#f + 1] = code
  return H.run({ flags = f })
end

local STORY = [[
taskrun.log.info("starting", { step = 1 })
io.stderr:write("the runbook's own note\n")
print("to stdout")
taskrun.log.warn("something odd", { step = 2 })
]]

describe("--log-on-failure", function()
  it("prints nothing on stderr when the run exits 0; stdout is the runbook's, as always",
    function()
    local r = run(STORY)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("", r.stderr)
    assert.are.equal("to stdout\n", r.stdout)
  end)

  it("prints every line held, in order, with the error, when the run fails", function()
    local r = run(STORY .. 'error(taskrun.error("failed", "the restore failed"))\n')
    assert.are.equal(3, r.code, r.stderr)
    assert.matches("^[%dTZ:.-]+ INFO  starting step=1\nthe runbook's own note\n"
      .. "[%dTZ:.-]+ WARN  something odd step=2\ntaskrun: failed: the restore failed\n"
      .. "\tat %(command line%):5\n$", r.stderr)
    assert.are.equal("to stdout\n", r.stdout)
  end)

  it("prints them for any exit that is not 0: os.exit(2)", function()
    local r = run('taskrun.log.info("before exit")\nos.exit(2)\n')
    assert.are.equal(2, r.code)
    assert.matches("INFO  before exit\n$", r.stderr)
  end)

  it("holds JSON lines as they are, the run_end event last", function()
    local r = run(STORY .. 'error("boom")\n', { "--log-format", "json" })
    assert.are.equal(1, r.code)
    local lines = {}
    for line in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal("the runbook's own note", lines[2])
    table.remove(lines, 2)
    local events = {}
    for i, line in ipairs(lines) do events[i] = json.decode(line) end
    assert.are.same({ "starting", "something odd" }, { events[1].msg, events[2].msg })
    assert.are.same({ "run_end", 1 }, { events[3].event, events[3].exit_code })
  end)

  it("keeps the latest 1 MiB, saying first how many earlier lines it dropped", function()
    -- 20,000 lines of 120 bytes: 2.4 MB, over the bound.
    local r = run([[
for i = 1, 20000 do taskrun.log.info(string.format("line %05d ", i) .. string.rep("x", 80)) end
error("boom")
]])
    assert.are.equal(1, r.code)
    assert.is_true(#r.stderr <= 1024 * 1024 + 200, "printed " .. #r.stderr .. " bytes")
    local first, rest = r.stderr:match("^([^\n]*)\n(.*)$")
    local dropped = tonumber(first:match("WARN  %-%-log%-on%-failure kept the last 1024 KiB "
      .. "of the log: (%d+) earlier lines were dropped$"))
    assert.is_truthy(dropped, first)
    -- every line is either dropped or printed, and those printed are the latest, whole
    local kept, last = 0, nil
    for line in rest:gmatch("[^\n]+") do
      local n = line:match("INFO  line (%d+) x+$")
      if n then
        kept = kept + 1
        assert.is_true(last == nil or tonumber(n) == last + 1, line)
        last = tonumber(n)
      end
    end
    assert.are.equal(20000, last)
    assert.are.equal(20000, dropped + kept)
    assert.matches("\ntaskrun: %(command line%):2: boom\n", r.stderr)
  end)

  it("holds --log-level debug lines too", function()
    local r = run('taskrun.log.debug("detail")\nos.exit(1)\n', { "--log-level", "debug" })
    assert.are.equal(1, r.code)
    assert.matches("DEBUG detail\n$", r.stderr)
  end)
end)
