-- --metrics-file PATH: at the end of every run, a Prometheus text-format file for
-- node_exporter's textfile collector, read here by a parser of the format's own rules
-- (https://prometheus.io/docs/instrumenting/exposition_formats/), replaced atomically, the last
-- success kept across failed runs and the counters going on from run to run.
local H = require("harness")

-- ---- the text format, as a scraper reads it ----------------------------------------------

local NAME = "^[a-zA-Z_:][a-zA-Z0-9_:]*$"
local LABEL = "^[a-zA-Z_][a-zA-Z0-9_]*$"

-- A label value from just past its opening quote: its text unescaped (\\, \" and \n; any other
-- escape is an error), and the position past its closing quote.
local function label_value(s, i)
  local out = {}
  while true do
    local c = s:sub(i, i)
    if c == "" or c == "\n" then error("a label value runs past the line") end
    if c == '"' then return table.concat(out), i + 1 end
    if c == "\\" then
      local e = s:sub(i + 1, i + 1)
      local map = { ["\\"] = "\\", ['"'] = '"', n = "\n" }
      assert(map[e], "bad escape \\" .. e .. " in a label value")
      out[#out + 1] = map[e]
      i = i + 2
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
end

-- Parses a whole file. Returns { families = { name = { type =, help =, samples = { { labels =,
-- value = } } } }, order = { names } }; raises on anything a scraper would refuse: a sample
-- before its TYPE, a family split in two groups, a bad name, label or value, a series twice,
-- a TYPE twice, a missing final newline.
local function parse(text)
  assert(text:sub(-1) == "\n", "the file does not end with a newline")
  local doc = { families = {}, order = {} }
  local current, seen = nil, {}
  local function family(name)
    local f = doc.families[name]
    if not f then
      f = { samples = {}, series = {} }
      doc.families[name] = f
      doc.order[#doc.order + 1] = name
    end
    -- every line of a family in one group
    if current ~= name then
      assert(not seen[name], name .. " is in two groups")
      seen[name] = true
      current = name
    end
    return f
  end
  for line in text:gmatch("([^\n]*)\n") do
    if line:find("^# HELP ") then
      local name, help = line:match("^# HELP (%S+) (.*)$")
      assert(name and name:find(NAME), "bad HELP: " .. line)
      local f = family(name)
      assert(not f.help, "HELP twice for " .. name)
      f.help = help
    elseif line:find("^# TYPE ") then
      local name, ty = line:match("^# TYPE (%S+) (%S+)$")
      assert(name and name:find(NAME), "bad TYPE: " .. line)
      assert(({ counter = 1, gauge = 1, histogram = 1, summary = 1, untyped = 1 })[ty], line)
      local f = family(name)
      assert(not f.type, "TYPE twice for " .. name)
      assert(#f.samples == 0, "TYPE after samples of " .. name)
      f.type = ty
    elseif line:find("^#") or line == "" then
      -- a comment
    else
      local name, rest = line:match("^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$")
      assert(name, "bad sample: " .. line)
      local labels, keys = {}, {}
      local i = 1
      if rest:sub(1, 1) == "{" then
        i = 2
        while rest:sub(i, i) ~= "}" do
          local key, j = rest:match('^([^=]+)="()', i)
          assert(key and key:find(LABEL), "bad label in: " .. line)
          assert(labels[key] == nil, "label " .. key .. " twice in: " .. line)
          labels[key], i = label_value(rest, j)
          keys[#keys + 1] = key
          if rest:sub(i, i) == "," then i = i + 1 end
        end
        i = i + 1
      end
      local value = rest:sub(i):match("^ (%S+)$") or rest:sub(i):match("^ (%S+) %-?%d+$")
      assert(value, "bad value in: " .. line)
      local n = tonumber(value) or ({ ["+Inf"] = math.huge, ["-Inf"] = -math.huge })[value]
      assert(n or value == "NaN", "bad value in: " .. line)
      local f = family(name)
      assert(f.type, "a sample before the TYPE of " .. name)
      table.sort(keys)
      local id = {}
      for _, k in ipairs(keys) do id[#id + 1] = k .. "=" .. labels[k] end
      id = table.concat(id, "\0")
      assert(not f.series[id], "a series twice: " .. line)
      f.series[id] = true
      f.samples[#f.samples + 1] = { labels = labels, value = n }
    end
  end
  return doc
end

-- The value of `name`'s sample whose labels include all of `want`.
local function value(doc, name, want)
  local f = doc.families[name]
  if not f then return nil end
  for _, s in ipairs(f.samples) do
    local match = true
    for k, v in pairs(want) do
      if s.labels[k] ~= v then match = false end
    end
    if match then return s.value end
  end
end

-- ---- runs ---------------------------------------------------------------------------------

local function ls(dir)
  local p = io.popen("ls -A " .. H.quote(dir))
  local names = {}
  for n in p:lines() do names[#names + 1] = n end
  p:close()
  table.sort(names)
  return names
end


-- A runbook that waits on a BlueXP job which ends as $OUTCOME says (COMPLETED or FAILED).
local RUNBOOK = [[
local sim = dofile("spec/support/simctl.lua")
local j = sim.task({ provider = "bluexp", mode = "poll",
  steps = { "PENDING", { state = os.getenv("OUTCOME"), error = "volume offline" } } })
taskrun.bluexp.job(j.id):wait({ interval = 0.05 })
]]

local function setup(name)
  local dir = H.tmpdir()
  local s = { dir = dir, prom = dir .. "/taskrun.prom" }
  s.script = dir .. "/" .. (name or "restore.lua")
  local f = assert(io.open(s.script, "w"))
  f:write(RUNBOOK)
  f:close()
  function s.run(outcome, flags)
    local fl = { "--sim", "--no-journal", "--metrics-file", s.prom }
    for _, x in ipairs(flags or {}) do fl[#fl + 1] = x end
    return H.run({ flags = fl, script_path = s.script, env = { OUTCOME = outcome } })
  end
  function s.read()
    return parse(H.read_file(s.prom))
  end
  return s
end

describe("the spec's text-format parser", function()
  it("refuses what a scraper refuses", function()
    local bad = {
      "# TYPE a gauge\na 1",                                   -- no final newline
      "a 1\n",                                                 -- a sample before its TYPE
      "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n",        -- a family in two groups
      '# TYPE a gauge\na{x="1\\q"} 1\n',                       -- an unknown escape
      '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n',               -- a series twice
      "# TYPE a gauge\na one\n",                               -- not a number
      '# TYPE a gauge\na{x="1} 1\n',                            -- a value left open
    }
    for _, text in ipairs(bad) do
      assert.is_false(pcall(parse, text), text)
    end
    local doc = parse('# HELP a A thing.\n# TYPE a counter\na{x="q\\"\\\\\\n",y="2"} 3\n')
    assert.are.same({ x = 'q"\\\n', y = "2" }, doc.families.a.samples[1].labels)
  end)
end)

describe("--metrics-file", function()
  it("writes every metric with HELP and TYPE, each series labelled with the runbook", function()
    local s = setup()
    local r = s.run("COMPLETED")
    assert.are.equal(0, r.code, r.stderr)
    local doc = s.read()
    local rb = { runbook = "restore.lua" }
    assert.are.same({ "taskrun_last_run_timestamp_seconds",
      "taskrun_last_success_timestamp_seconds", "taskrun_last_run_duration_seconds",
      "taskrun_last_run_exit_code", "taskrun_waits_total", "taskrun_requests_total" }, doc.order)
    for _, name in ipairs(doc.order) do
      local f = doc.families[name]
      assert.is_truthy(f.help, name)
      assert.are.equal(name:find("_total$") and "counter" or "gauge", f.type, name)
      for _, sample in ipairs(f.samples) do
        assert.are.equal("restore.lua", sample.labels.runbook, name)
      end
    end
    local ran = value(doc, "taskrun_last_run_timestamp_seconds", rb)
    assert.is_true(ran > 1.7e9 and ran < os.time() + 5, tostring(ran))
    assert.are.equal(ran, value(doc, "taskrun_last_success_timestamp_seconds", rb))
    assert.are.equal(0, value(doc, "taskrun_last_run_exit_code", rb))
    assert.is_true(value(doc, "taskrun_last_run_duration_seconds", rb) > 0)
    assert.are.equal(1, value(doc, "taskrun_waits_total",
      { runbook = "restore.lua", provider = "bluexp", outcome = "succeeded" }))
    -- the token request, the job's first read (PENDING) and one poll (COMPLETED)
    assert.are.equal(3, value(doc, "taskrun_requests_total",
      { runbook = "restore.lua", provider = "bluexp", outcome = "ok" }))
  end)

  it("keeps the last success across a failed run, and the counters go on", function()
    local s = setup()
    assert.are.equal(0, s.run("COMPLETED").code)
    local before = s.read()
    local rb = { runbook = "restore.lua" }
    local success = value(before, "taskrun_last_success_timestamp_seconds", rb)
    local r = s.run("FAILED")
    assert.are.equal(3, r.code, r.stderr)
    local after = s.read()
    assert.are.equal(success, value(after, "taskrun_last_success_timestamp_seconds", rb))
    assert.are.equal(3, value(after, "taskrun_last_run_exit_code", rb))
    assert.is_true(value(after, "taskrun_last_run_timestamp_seconds", rb) >= success)
    assert.are.equal(1, value(after, "taskrun_waits_total",
      { runbook = "restore.lua", provider = "bluexp", outcome = "succeeded" }))
    assert.are.equal(1, value(after, "taskrun_waits_total",
      { runbook = "restore.lua", provider = "bluexp", outcome = "failed" }))
    assert.are.equal(6, value(after, "taskrun_requests_total",
      { runbook = "restore.lua", provider = "bluexp", outcome = "ok" }))
    -- a run with no success yet says 0
    local fresh = setup()
    assert.are.equal(3, fresh.run("FAILED").code)
    assert.are.equal(0, value(fresh.read(), "taskrun_last_success_timestamp_seconds", rb))
  end)

  it("replaces the file by a rename from the same directory: the old file is never written "
    .. "into, and no temporary file stays", function()
    local s = setup()
    assert.are.equal(0, s.run("COMPLETED").code)
    local old = H.read_file(s.prom)
    -- a second name for the old file: written in place, it would change under this name too
    assert.is_true(os.execute("ln " .. H.quote(s.prom) .. " " .. H.quote(s.dir .. "/old")))
    local old_inode = H.output_line("stat -c %i " .. H.quote(s.prom))
    assert.are.equal(3, s.run("FAILED").code)
    assert.are.equal(old, H.read_file(s.dir .. "/old"))
    assert.are_not.equal(old_inode, H.output_line("stat -c %i " .. H.quote(s.prom)))
    assert.are.same({ "old", "restore.lua", "taskrun.prom" }, ls(s.dir))
    parse(H.read_file(s.prom))
  end)

  it("escapes the runbook's name in its label", function()
    local s = setup('we"ird\\name.lua')
    assert.are.equal(0, s.run("COMPLETED").code)
    local text = H.read_file(s.prom)
    assert.matches('{runbook="we\\"ird\\\\name.lua"}', text, 1, true)
    assert.are.equal(0, value(parse(text), "taskrun_last_run_exit_code",
      { runbook = 'we"ird\\name.lua' }))
  end)

  it("that cannot be written is a warning: the run's exit code stays", function()
    local s = setup()
    s.prom = s.dir .. "/missing/taskrun.prom"
    local r = s.run("COMPLETED")
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("WARN  --metrics-file " .. s.prom .. ": cannot create a temporary file next "
      .. "to it: No such file or directory; the run's exit code is not changed by it\n",
      r.stderr, 1, true)
  end)

  it("is not written by a start that found its lock held (exit 75): it ran nothing", function()
    local s = setup()
    local env = { TASKRUN_STATE_DIR = s.dir .. "/state" }
    local holder = H.spawn({ flags = { "--lock", "restore" }, env = env,
      script = 'print("ready") io.stdout:flush() taskrun.sleep(60)' })
    assert.are.equal("ready", holder:line())
    local r = H.run({ flags = { "--lock", "restore", "--metrics-file", s.prom }, env = env,
      script = "print('ran')" })
    assert.are.equal(75, r.code, r.stderr)
    holder:kill("TERM")
    holder:wait()
    assert.is_nil(io.open(s.prom), "the metrics file was written")
  end)
end)
