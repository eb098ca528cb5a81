-- The fleet's deployment recipe (deploy/), tried as far as this machine allows (no container
-- runtime, no Kubernetes): the CronJob is valid YAML with the fields that make it safe, its
-- journal URL and the vendors' credentials come from files of read-only Secret mounts, and its
-- container's arguments run, with its environment, against a real PostgreSQL journal whose URL
-- is such a file (a throwaway cluster, support/pg.lua); the image's build file installs every
-- library the binary links.
local H = require("harness")
local PG = require("pg")
local cronjob = require("cronjob")
local json = require("cjson")

local doc, job, pod, container = cronjob.read("deploy/cronjob.yaml")

-- The Secret volume mounted at the start of `path`, and its mount; nil when none is.
local function secret_mount(path)
  local volumes = {}
  for _, v in ipairs(pod.volumes) do volumes[v.name] = v end
  for _, m in ipairs(container.volumeMounts) do
    if path:sub(1, #m.mountPath + 1) == m.mountPath .. "/" then return volumes[m.name], m end
  end
end

describe("the fleet's CronJob (deploy/cronjob.yaml)", function()
  it("never overlaps, skips a start missed by too long, and fails the Job on exit 6", function()
    cronjob.assert_safe(doc, pod)
    local rule = job.podFailurePolicy.rules[1]
    assert.are.equal("FailJob", rule.action)
    local six = false
    for _, v in ipairs(rule.onExitCodes.values) do six = six or v == 6 end
    assert.is_true(six, "exit 6 (in doubt) does not fail the Job")
  end)

  it("reads the journal URL and every secret from files of read-only Secret mounts", function()
    local files = {}
    for _, e in ipairs(container.env) do
      assert.is_nil(e.name:find("_TOKEN$"), e.name .. " holds a token in the manifest")
      assert.is_nil(e.name:find("_SECRET$"), e.name .. " holds a secret in the manifest")
      assert.is_nil((e.value or ""):find("://[^/]*@"), e.name .. " holds a login in the manifest")
      assert.are_not.equal("TASKRUN_JOURNAL_URL", e.name)
      if e.name:find("_FILE$") then
        files[e.name] = true
        local volume, mount = secret_mount(e.value)
        assert.is_truthy(volume and volume.secret, e.name .. " is not in a mounted Secret")
        assert.is_true(mount.readOnly, mount.name .. " is not mounted read-only")
      end
    end
    assert.is_true(files.TASKRUN_JOURNAL_URL_FILE, "no TASKRUN_JOURNAL_URL_FILE")
  end)

  it("runs its container's arguments against the PostgreSQL journal a mounted file names",
    function()
    local pg = PG.start()
    finally(function() pg:stop() end)
    local dir = H.tmpdir()
    -- Every *_FILE of the manifest points into a directory of this spec's: the journal's URL,
    -- and stand-ins for the vendors' secrets (the stand-in runbook calls no vendor).
    local env = { TASKRUN_STATE_DIR = dir .. "/state" }   -- the image's ENV
    for _, e in ipairs(container.env) do
      if e.name:find("_FILE$") then
        local path = dir .. "/" .. e.name
        local f = assert(io.open(path, "wb"))
        f:write(e.name == "TASKRUN_JOURNAL_URL_FILE" and pg.url or "stand-in-secret", "\n")
        f:close()
        env[e.name] = path
      else
        env[e.name] = e.value
      end
    end
    local runbook = dir .. "/restore-and-mount.lua"
    local f = assert(io.open(runbook, "wb"))
    f:write('local n = taskrun.step("restore", function() return 42 end)\n'
      .. 'print("restored " .. arg[1] .. " " .. n .. " on attempt " .. taskrun.run.attempt)\n')
    f:close()
    local args = {}
    for i, a in ipairs(container.args) do
      args[i] = a:find("%.lua$") and runbook or a
    end
    local r = H.run({ flags = args, env = env })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("restored prod-db 42 on attempt 1\n", r.stdout)
    assert.is_nil((r.stdout .. r.stderr):find(pg.password, 1, true))
    -- The run is the shared journal's, finished, with this host as its executor.
    assert.are.equal("finished", pg:psql("SELECT status FROM taskrun.runs"))
    local shown = H.run({ flags = { "runs", "show", "1", "--json" }, env = env })
    assert.are.equal(0, shown.code, shown.stderr)
    local run = json.decode(shown.stdout)
    assert.are.equal(H.output_line("hostname"), run.attempts[1].host)
  end)
end)

describe("the image's build file (deploy/Containerfile)", function()
  local text = H.read_file("deploy/Containerfile")

  it("builds a target the Makefile has", function()
    local target = text:match("RUN make [^\n]-(taskrun)%f[%s&]")
    assert.are.equal("taskrun", target)
    assert.is_true(os.execute("make -n taskrun >/dev/null 2>&1"))
  end)

  it("installs in its final stage every library the binary links, but libc", function()
    local final = text:sub(select(2, text:find(".*\nFROM [^\n]*")) or 1)
    local installed = {}
    for pkg in final:match("apt%-get install ([^&]*)"):gmatch("[%w%.%+%-]+") do
      installed[pkg] = true
    end
    local needed = 0
    local ldd = assert(io.popen("ldd ./taskrun"))
    local libs = {}
    for line in ldd:lines() do
      local path = line:match("=> (/%S+)")
      if path then libs[#libs + 1] = path end
    end
    ldd:close()
    local sanitizers = { libasan = true, libubsan = true, liblsan = true, libtsan = true }
    local direct = {}
    local od = assert(io.popen("objdump -p ./taskrun"))
    for line in od:lines() do
      local name = line:match("^%s*NEEDED%s+(%S+)")
      if name then direct[name] = true end
    end
    od:close()
    for _, path in ipairs(libs) do
      local name = path:match("[^/]+$")
      -- A sanitizer build's runtimes are not the image's (it builds without SANITIZE).
      if direct[name] and not sanitizers[name:match("^[^.]+")] then
        local alt = path:find("^/usr/") and path:sub(5) or "/usr" .. path   -- merged /usr
        local pkg = H.output_line("dpkg -S " .. H.quote(path) .. " 2>/dev/null || dpkg -S "
          .. H.quote(alt) .. " 2>/dev/null")
        pkg = pkg and pkg:match("^([^:]+)")
        assert.is_truthy(pkg, "no package holds " .. path)
        if pkg ~= "libc6" then
          needed = needed + 1
          assert.is_true(installed[pkg] == true, pkg .. " (" .. path .. ") is not installed by "
            .. "the final stage")
        end
      end
    end
    assert.is_true(needed >= 4, "fewer libraries than expected: " .. needed)
  end)
end)
