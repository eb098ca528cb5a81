-- make install: the installed binary finds its stdlib with no environment variable.
local H = require("harness")

describe("make install", function()
  it("installs binaries that run the stdlib from anywhere", function()
    local dest = os.tmpname()
    os.remove(dest)
    local sanitize = os.getenv("SANITIZE") or ""
    local ok = os.execute("make -s install DESTDIR=" .. H.quote(dest) .. " PREFIX=/usr SANITIZE="
      .. H.quote(sanitize) .. " >/dev/null")
    assert.is_true(ok)
    local bin = dest .. "/usr/bin/taskrun"
    local p = io.popen("cd / && env -i " .. H.quote(bin)
      .. " -e 'print(require(\"taskrun.http\") ~= nil, taskrun.json.encode(taskrun.json.array()))' 2>&1")
    local out = p:read("a")
    p:close()
    os.execute("rm -rf " .. H.quote(dest))
    assert.are.equal("true\t[]\n", out)
  end)
end)
