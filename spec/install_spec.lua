-- make install: the installed binary finds its stdlib with no environment variable, and the man
-- pages, the language server definitions and the bash completion land where tools look.
local H = require("harness")

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

describe("make install", function()
  local dest = os.tmpname()
  os.remove(dest)
  local sanitize = os.getenv("SANITIZE") or ""
  local installed = os.execute("make -s install DESTDIR=" .. H.quote(dest)
    .. " PREFIX=/usr/local SANITIZE=" .. H.quote(sanitize) .. " >/dev/null")
  local root = dest .. "/usr/local"
  local bin = root .. "/bin/taskrun"

  teardown(function() os.execute("rm -rf " .. H.quote(dest)) end)

  it("installs binaries that run the stdlib from anywhere", function()
    assert.is_true(installed)
    local out = capture("cd / && env -i " .. H.quote(bin) .. " -e 'print(require(\"taskrun.http\")"
      .. " ~= nil, taskrun.json.encode(taskrun.json.array()))' 2>&1")
    assert.are.equal("true\t[]\n", out)
    local _, ok = capture(H.quote(root .. "/bin/taskrun-sim") .. " --help >/dev/null 2>&1")
    assert.is_true(ok)
  end)

  it("installs both man pages, which man renders without a warning", function()
    for _, page in ipairs({ "/share/man/man1/taskrun.1", "/share/man/man7/taskrun-lua.7" }) do
      local warnings, ok = capture("man --warnings -l " .. H.quote(root .. page)
        .. " 2>&1 >/dev/null")
      assert.is_true(ok, page)
      assert.are.equal("", warnings, page)
      local text = capture("MANWIDTH=80 man -l " .. H.quote(root .. page) .. " 2>/dev/null")
      assert.matches("^TASKRUN", text)
    end
  end)

  it("installs the definitions, and taskrun init points the language server at them", function()
    local list = capture("cd " .. H.quote(root .. "/share/taskrun/types") .. " && ls")
    local want = capture("cd types && ls")
    assert.are.equal(want, list)
    local dir = H.tmpdir()
    local out = capture(H.quote(bin) .. " init " .. H.quote(dir) .. " 2>&1")
    assert.matches("wrote " .. dir .. "/.luarc.json", out, 1, true)
    local luarc = require("cjson").decode(H.read_file(dir .. "/.luarc.json"))
    assert.are.same({ root .. "/share/taskrun/types" }, luarc["workspace.library"])
    os.execute("rm -rf " .. H.quote(dir))
  end)

  it("installs the bash completion", function()
    local out = capture("bash -c " .. H.quote("source " .. H.quote(root
      .. "/share/bash-completion/completions/taskrun") .. " && COMP_WORDS=("
      .. H.quote(bin) .. " --chec) COMP_CWORD=1 && _taskrun && echo \"${COMPREPLY[*]}\""))
    assert.are.equal("--check\n", out)
  end)
end)
