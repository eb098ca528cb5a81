-- taskrun init: a folder set up for an editor that knows the runbook API, never overwriting.
local H = require("harness")

describe("taskrun init", function()
  it("writes .luarc.json pointing at the definitions, and a starter runbook that runs", function()
    local dir = H.tmpdir() .. "/runbooks"
    local r = H.run({ flags = { "init", dir } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("wrote " .. dir .. "/.luarc.json\nwrote " .. dir .. "/runbook.lua\n",
      r.stdout)
    local luarc = require("cjson").decode(H.read_file(dir .. "/.luarc.json"))
    assert.are.equal("Lua 5.4", luarc["runtime.version"])
    local types = luarc["workspace.library"][1]
    assert.matches("/types$", types)
    assert.matches("^%-%-%-@meta", H.read_file(types .. "/taskrun.lua"))
    local check = H.run({ flags = { "--sim", "--check", dir .. "/runbook.lua" } })
    assert.are.equal(0, check.code, check.stderr)
    local run = H.run({ flags = { "--sim", "--no-journal", dir .. "/runbook.lua" } })
    assert.are.equal(0, run.code, run.stderr)
    assert.matches("restore finished", run.stderr, 1, true)
    os.execute("rm -rf " .. H.quote(dir))
  end)

  it("never overwrites a file, and writes no starter beside runbooks", function()
    local dir = H.tmpdir()
    local f = assert(io.open(dir .. "/.luarc.json", "w"))
    f:write("{ \"mine\": true }\n")
    f:close()
    f = assert(io.open(dir .. "/restore.lua", "w"))
    f:write("print(1)\n")
    f:close()
    local r = H.run({ flags = { "init", dir } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches(dir .. "/.luarc.json exists: left as it is", r.stdout, 1, true)
    assert.matches("has runbooks already: no starter written", r.stdout, 1, true)
    assert.are.equal("{ \"mine\": true }\n", H.read_file(dir .. "/.luarc.json"))
    assert.is_nil(io.open(dir .. "/runbook.lua"))
    os.execute("rm -rf " .. H.quote(dir))
  end)

  it("exits 2 for a folder it cannot create, or a stray argument", function()
    local r = H.run({ flags = { "init", "/proc/no/such/dir" } })
    assert.are.equal(2, r.code)
    assert.matches("cannot create /proc/no/such/dir", r.stderr, 1, true)
    assert.are.equal(2, H.run({ flags = { "init", "a", "b" } }).code)
  end)
end)

describe("bash completion", function()
  -- What _taskrun offers for the words typed (the last one is being completed), from `dir`.
  local function complete(words, dir)
    local quoted = {}
    for i, w in ipairs(words) do quoted[i] = H.quote(w) end
    local script = "source completion/taskrun && cd " .. H.quote(dir or ".")
      .. " && COMP_WORDS=(" .. table.concat(quoted, " ") .. ") && COMP_CWORD="
      .. (#words - 1) .. " && _taskrun; printf '%s\\n' \"${COMPREPLY[@]}\""
    local p = assert(io.popen("bash -c " .. H.quote(script)))
    local out = {}
    for line in p:lines() do
      if line ~= "" then out[#out + 1] = line end
    end
    p:close()
    table.sort(out)
    return out
  end
  local taskrun = os.getenv("PWD") .. "/taskrun"

  it("offers every option --help lists, and their values", function()
    local help = H.run({ flags = { "--help" } }).stdout
    local offered = {}
    for _, o in ipairs(complete({ taskrun, "--" })) do offered[o] = true end
    for opt in help:gmatch("\n  (%-%-[%w-]+)") do
      assert.is_truthy(offered[opt], opt .. " is not completed")
    end
    assert.are.same({ "debug", "error", "info", "warn" }, complete({ taskrun, "--log-level", "" }))
    assert.are.same({ "json", "text" }, complete({ taskrun, "--log-format", "" }))
  end)

  it("offers the subcommands and theirs", function()
    local empty = H.tmpdir()
    assert.are.same({ "init", "runs" }, complete({ taskrun, "" }, empty))
    os.remove(empty)
    assert.are.same({ "--json", "prune", "resolve", "show" }, complete({ taskrun, "runs", "" }))
    assert.are.same({ "--older-than" }, complete({ taskrun, "runs", "prune", "" }))
    assert.are.same({ "--abandon", "--id", "--redo" },
      complete({ taskrun, "runs", "resolve", "3", "2", "" }))
  end)

  it("offers .lua files and folders for the script and --check, not other files", function()
    local dir = H.tmpdir()
    os.execute("cd " .. H.quote(dir) .. " && mkdir sub && touch a.lua b.txt")
    assert.are.same({ "a.lua", "init", "runs", "sub" }, complete({ taskrun, "" }, dir))
    assert.are.same({ "a.lua", "sub" }, complete({ taskrun, "--check", "" }, dir))
    os.execute("rm -rf " .. H.quote(dir))
  end)
end)
