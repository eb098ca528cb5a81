-- What taskrun writes, as a person, cron mail or a log collector reads it: text log lines that
-- vendor text cannot forge or turn into terminal commands, JSON lines that always parse, a
-- stdout that cannot be written ending the run, and -e CODE taking the runbook's arguments.
local H = require("harness")
local json = require("cjson")

local quote = H.quote

-- Runs `./taskrun FLAGS` with its stdout sent by `sink` (a shell redirection such as
-- ">/dev/full", or a pipe such as "| head -1"). Returns { code = taskrun's own exit code,
-- stderr = }. A run that never ends is stopped by timeout(1), with code 124.
local function run_into(sink, flags)
  local errpath = os.tmpname()
  local argv = {}
  for i, f in ipairs(flags) do argv[i] = quote(f) end
  local inner = "timeout -k 5 60 ./taskrun " .. table.concat(argv, " ") .. " 2>" .. quote(errpath)
    .. " </dev/null " .. sink .. '; echo "${PIPESTATUS[0]}"'
  local p = assert(io.popen("bash -c " .. quote(inner), "r"))
  local code = tonumber(p:read("a"):match("(%d+)%s*$"))
  p:close()
  local err = H.read_file(errpath)
  os.remove(errpath)
  return { code = code, stderr = err }
end

describe("a stdout that cannot be written", function()
  it("ends the run with exit 1 and says why when print meets a full disk", function()
    local r = run_into(">/dev/full", { "-e", 'print("hello") taskrun.sleep(60)' })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("taskrun: cannot write to stdout: No space left on device\n", r.stderr)
  end)

  it("checks the last flush of io.write's buffered output, at the end and on os.exit", function()
    for _, code in ipairs({ 'io.write("hello")', 'io.write("hello") os.exit(0)' }) do
      local r = run_into(">/dev/full", { "-e", code })
      assert.are.equal(1, r.code, code .. "\n" .. r.stderr)
      assert.are.equal("taskrun: cannot write to stdout: No space left on device\n", r.stderr)
    end
  end)

  it("says it as a JSON line with --log-format json", function()
    local r = run_into(">/dev/full", { "--log-format", "json", "-e", 'print("hello")' })
    assert.are.equal(1, r.code, r.stderr)
    local entry = json.decode(r.stderr)
    assert.are.same({ "error", "cannot write to stdout: No space left on device" },
      { entry.level, entry.msg })
  end)

  it("ends quietly with 141 (128 + SIGPIPE) when the reader goes away: | head -1", function()
    local r = run_into("| head -1 >/dev/null",
      { "-e", "local i = 0 while true do i = i + 1 print(i) end" })
    assert.are.equal(141, r.code, r.stderr)
    assert.are.equal("", r.stderr)
  end)

  it("ends the run even when the runbook swallows the error in a task of its own", function()
    local r = run_into("| head -1 >/dev/null", { "-e", [[
      taskrun.spawn(function()
        while true do
          pcall(print, "line")
          taskrun.yield()
        end
      end)
      taskrun.sleep(60)
    ]] })
    assert.are.equal(141, r.code, r.stderr)
    assert.are.equal("", r.stderr)
  end)
end)

describe("-e CODE [args...]", function()
  it("gives the runbook every argument after CODE, those that look like options too", function()
    local r = H.run({ flags = { "--quiet", "-e", "print(...)", "-x", "--log-level", "y" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("-x\t--log-level\ty\n", r.stdout)
    r = H.run({ flags = { "-e", "print(...) print(#arg, taskrun.args[1])", "--", "-x" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("-x\n1\t-x\n", r.stdout)
  end)
end)

-- A vendor's state holding a newline, a forged log line, a terminal escape sequence (clear the
-- screen) and a C1 control (CSI, U+009B).
local FORGED = "IN_PROGRESS\n2026-01-01T00:00:00.000Z ERROR forged\27[2J\194\155"

local function assert_no_control(text)
  assert.is_nil(text:find("\27", 1, true), "an escape character reached the output:\n" .. text)
  assert.is_nil(text:find("\194\155", 1, true), "a C1 control reached the output:\n" .. text)
  for line in text:gmatch("[^\n]*") do
    assert.is_nil(line:find("^2026%-01%-01"), "a forged line:\n" .. text)
  end
end

describe("text logs", function()
  it("escape the control characters of a vendor's state: one line each, no escape sequence",
    function()
    local r = H.run_sim(string.format([[
      local j = sim.task({ provider = "bluexp", mode = "poll",
                           steps = { "PENDING", %q, "COMPLETED" } })
      taskrun.wait(taskrun.bluexp.job(j.id), { interval = 0.05, max_interval = 0.05 })
    ]], FORGED))
    assert.are.equal(0, r.code, r.stderr)
    assert_no_control(r.stderr)
    -- the transition line shows the state, escaped, on its own line
    assert.matches("INFO  bluexp task [%w-]+: PENDING %-> IN_PROGRESS\\n"
      .. "2026%-01%-01T00:00:00.000Z ERROR forged\\x1b%[2J\\xc2\\x9b %(", r.stderr)
  end)

  it("keep an error report and its traceback on several lines, indented, with no escape "
    .. "sequence", function()
    local r = H.run({ script = string.format([[
      local f = load("error(...)", "=\27[31mevil")
      f(%q)
    ]], "failed:\n" .. FORGED) })
    assert.are.equal(1, r.code, r.stderr)
    assert_no_control(r.stderr)
    assert.matches("^taskrun: \\x1b%[31mevil:1: failed:\n\tIN_PROGRESS\n\t"
      .. "2026%-01%-01T00:00:00.000Z ERROR forged\\x1b%[2J\\xc2\\x9b\nstack traceback:\n\t",
      r.stderr)
    for line in r.stderr:gmatch("\n([^\n]+)") do
      assert.is_true(line == "stack traceback:" or line:sub(1, 1) == "\t", line)
    end
  end)
end)

describe("JSON logs", function()
  it("always parse: NaN and infinities become strings, invalid UTF-8 becomes U+FFFD", function()
    local r = H.run({ flags = { "--log-format", "json" }, script = [[
      taskrun.log.info("bad \255\254 utf8 \194\155 ok é", { a = 0/0, progress = math.huge,
        low = -math.huge, half = 1.5, n = 3, yes = true, ["key\255"] = "v\192\175" })
      error("uncaught \255")
    ]] })
    assert.are.equal(1, r.code, r.stderr)
    local lines = {}
    for line in r.stderr:gmatch("[^\n]+") do
      assert.truthy(utf8.len(line), "not UTF-8: " .. line)
      local ok, entry = pcall(json.decode, line)
      assert.is_true(ok, "does not parse: " .. line)
      lines[#lines + 1] = entry
    end
    assert.are.equal(2, #lines, r.stderr)
    local e = lines[1]
    assert.are.same({ "nan", "inf", "-inf", 1.5, 3, true },
      { e.a, e.progress, e.low, e.half, e.n, e.yes })
    assert.are.equal("bad \u{FFFD}\u{FFFD} utf8 \u{9B} ok é", e.msg)
    assert.are.equal("v\u{FFFD}\u{FFFD}", e["key\u{FFFD}"])
    assert.matches("uncaught \u{FFFD}", lines[2].msg, 1, true)
  end)
end)
