-- The command line as a user and cron meet it: arguments, exit codes, messages.
local H = require("harness")

describe("the taskrun command", function()
  it("prints x/7 for a decoded JSON integer (lua-cjson alone would give x/7.0)", function()
    local r = H.run({ flags = { "-e", 'print("x/" .. require("taskrun.json").decode("[7]")[1])' } })
    assert.are.equal(0, r.code)
    assert.are.equal("x/7\n", r.stdout)
  end)

  it("exits 2 naming the file when the script is missing", function()
    local r = H.run({ script_path = "missing.lua" })
    assert.are.equal(2, r.code)
    assert.matches("cannot open missing.lua", r.stderr, 1, true)
  end)

  it("exits 1 with file:line on a syntax error", function()
    local path = H.write_tmp("local x = 1\nlocal = 2\n", ".lua")
    local r = H.run({ script_path = path })
    assert.are.equal(1, r.code)
    assert.matches(path .. ":2:", r.stderr, 1, true)
  end)

  it("exits 2 on an unknown option, a missing script, or a bad option value", function()
    assert.are.equal(2, H.run({ flags = { "--bogus" } }).code)
    assert.are.equal(2, H.run({}).code)
    local r = H.run({ flags = { "--timeout", "soon" }, script = "" })
    assert.are.equal(2, r.code)
    assert.matches('bad --timeout "soon"', r.stderr, 1, true)
    assert.are.equal(2, H.run({ flags = { "--log-level", "loud" }, script = "" }).code)
    assert.are.equal(2, H.run({ flags = { "--log-format", "xml" }, script = "" }).code)
    assert.are.equal(2, H.run({ flags = { "-e" } }).code)
  end)

  it("prints its version and its help", function()
    local r = H.run({ flags = { "--version" } })
    assert.are.equal(0, r.code)
    assert.matches("^taskrun %d+%.%d+%.%d+", r.stdout)
    r = H.run({ flags = { "--help" } })
    assert.are.equal(0, r.code)
    for _, opt in ipairs({ "-e CODE", "--check", "--timeout", "--log-level", "--log-format",
                           "--quiet", "--sim", "--version", "--help" }) do
      assert.matches(opt, r.stdout, 1, true)
    end
  end)

  it("keeps README and --help in step: every option in --help is in the README", function()
    local help = H.run({ flags = { "--help" } }).stdout
    local readme = H.read_file("README.md")
    for opt in help:gmatch("\n  (%-%-?[%w-]+)") do
      assert.is_truthy(readme:find(opt, 1, true), opt .. " is missing from README.md")
    end
  end)

  it("--check compiles without running", function()
    local ok = H.run({ flags = { "--check", H.write_tmp('print("ran")', ".lua") } })
    assert.are.equal(0, ok.code)
    assert.are.equal("", ok.stdout)
    local bad = H.run({ flags = { "--check", H.write_tmp("if then", ".lua") } })
    assert.are.equal(1, bad.code)
    assert.are.equal(2, H.run({ flags = { "--check", "missing.lua" } }).code)
  end)

  it("passes arguments as arg, as ... and as taskrun.args", function()
    local r = H.run({
      script = 'print(arg[0] ~= nil, arg[1], arg[2], select("#", ...), ...)\n'
        .. 'print(#taskrun.args, taskrun.args[1], taskrun.args[2])',
      args = { "one", "two words" },
    })
    assert.are.equal(0, r.code)
    assert.are.equal("true\tone\ttwo words\t2\tone\ttwo words\n2\tone\ttwo words\n", r.stdout)
    r = H.run({ flags = { "-e", "print(...)", "a", "b" } })
    assert.are.equal("a\tb\n", r.stdout)
  end)

  it("maps uncaught errors to exit codes by kind, printing them through __tostring", function()
    local cases = {
      { 'error("boom")', 1, "boom" },
      { 'error(taskrun.error("usage", "bad input"))', 2, "usage: bad input" },
      { 'error(taskrun.error("failed", "task failed"))', 3, "failed: task failed" },
      { 'error(taskrun.error("cancelled", "cancelled"))', 3, "cancelled: cancelled" },
      { 'error(taskrun.error("timeout", "waited too long"))', 4, "timeout: waited too long" },
      { 'error(taskrun.error("auth", "401 Unauthorized"))', 5, "auth: 401 Unauthorized" },
      { 'error({ kind = "auth", message = "plain table" })', 5, "auth: plain table" },
    }
    for _, c in ipairs(cases) do
      local r = H.run({ flags = { "-e", c[1] } })
      assert.are.equal(c[2], r.code, c[1])
      assert.matches(c[3], r.stderr, 1, true)
      -- the error output spec says which show a traceback (spec/error_output_spec.lua)
    end
  end)

  it("--timeout cancels the run and exits 4, running <close> handlers", function()
    local r = H.run({
      flags = { "--timeout", "200ms" },
      script = 'local c <close> = setmetatable({}, { __close = function() print("closed") end })\n'
        .. "taskrun.sleep(60)",
    })
    assert.are.equal(4, r.code)
    assert.are.equal("closed\n", r.stdout)
    assert.matches("--timeout 200ms ran out; cancelled 1 task", r.stderr, 1, true)
  end)

  it("logs as text, as JSON lines with --log-format json, and only errors with --quiet", function()
    local script = 'taskrun.log.info("hello", { n = 3, who = "two words" })\n'
      .. 'taskrun.log.debug("hidden")\ntaskrun.log.error("bad", { code = 7 })'
    local text = H.run({ script = script })
    assert.matches("INFO  hello n=3 who=\"two words\"", text.stderr, 1, true)
    assert.is_falsy(text.stderr:find("hidden", 1, true))
    local json = H.run({ script = script, flags = { "--log-format", "json", "--log-level", "debug" } })
    local lines = {}
    for line in json.stderr:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(4, #lines)
    assert.matches('"level":"info","msg":"hello","n":3,"who":"two words"}', lines[1], 1, true)
    assert.matches('"msg":"hidden"', lines[2], 1, true)
    assert.matches('"level":"error","msg":"bad","code":7}', lines[3], 1, true)
    assert.matches('"event":"run_end","exit_code":0,', lines[4], 1, true)
    local quiet = H.run({ script = script, flags = { "--quiet" } })
    assert.is_falsy(quiet.stderr:find("hello", 1, true))
    assert.matches("ERROR bad code=7", quiet.stderr, 1, true)
  end)

  it("redacts secret-named log fields and registered secrets", function()
    local r = H.run({ script = 'taskrun.secret("s3cr3t-value-123")\n'
      .. 'taskrun.log.info("using s3cr3t-value-123", { api_token = "abcdefgh", password = "pw" })' })
    assert.is_falsy(r.stderr:find("s3cr3t-value-123", 1, true))
    assert.is_falsy(r.stderr:find("abcdefgh", 1, true))
    assert.matches("using [REDACTED]", r.stderr, 1, true)
  end)

  it("loads Debian's Lua modules through the standard package.path", function()
    local r = H.run({ flags = { "-e", 'print(require("cjson").encode({1}))' } })
    assert.are.equal(0, r.code)
    assert.are.equal("[1]\n", r.stdout)
  end)
end)
