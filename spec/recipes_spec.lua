-- The scheduling recipes of doc/recipes, tried as far as this machine allows: the crontab line
-- is checked field by field and its command run as cron runs it; the systemd units pass
-- `systemd-analyze verify` and their command runs; the Kubernetes CronJob is valid YAML with
-- the fields that matter, and its container's arguments run. Each command runs against a
-- stand-in runbook, metrics file and ping listener.
local H = require("harness")
local json = require("cjson")
local cronjob = require("cronjob")

local RECIPES = "doc/recipes/"
local RUNBOOK_PATH = "/etc/taskrun/restore-and-mount.lua"
local METRICS_PATH = "/var/lib/prometheus/node-exporter/taskrun-restore.prom"
local OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"

-- `text` with every plain occurrence of each key of `subst` replaced by its value.
local function substitute(text, subst)
  for from, to in pairs(subst) do
    local i = 1
    while true do
      local a, b = text:find(from, i, true)
      if not a then break end
      text = text:sub(1, a - 1) .. to .. text:sub(b + 1)
      i = a + #to
    end
  end
  return text
end

-- What a recipe's command needs to run here: a stand-in for the runbook (it fails when FAIL is
-- set), a metrics file in a directory of its own, a ping listener, a state directory.
local function stand_ins()
  local s = { dir = H.tmpdir() }
  s.runbook = s.dir .. "/restore-and-mount.lua"
  local f = assert(io.open(s.runbook, "w"))
  f:write([[
taskrun.log.info("restoring", { db = arg[1] })
if os.getenv("FAIL") then error(taskrun.error("failed", "the restore of " .. arg[1] .. " failed")) end
]])
  f:close()
  s.metrics = s.dir .. "/taskrun-restore.prom"
  s.pings = H.tmpdir()
  s.stub = H.start_stub({ OK }, { record = s.pings })
  finally(s.stub.stop)
  s.ping_url = s.stub.url .. "/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"
  function s.subst(extra)
    local t = { [RUNBOOK_PATH] = s.runbook, [METRICS_PATH] = s.metrics }
    for k, v in pairs(extra or {}) do t[k] = v end
    return t
  end
  -- The paths of the pings received, in order.
  function s.ping_paths()
    local out = {}
    for n = 1, 20 do
      local fh = io.open(s.pings .. "/" .. n, "rb")
      if not fh then break end
      out[n] = fh:read("a"):match("^POST ([^?]+)")
      fh:close()
    end
    return out
  end
  return s
end

-- ---- cron ----------------------------------------------------------------------------------

local RANGES = { { 0, 59 }, { 0, 23 }, { 1, 31 }, { 1, 12 }, { 0, 7 } }

-- Whether `field` is a valid crontab time field for the range lo..hi: *, N, N-M, each with an
-- optional /STEP, in a comma-separated list (crontab(5)).
local function valid_field(field, lo, hi)
  for item in (field .. ","):gmatch("([^,]*),") do
    local range, step = item:match("^([^/]+)/(%d+)$")
    range = range or item
    if step and tonumber(step) < 1 then return false end
    if range ~= "*" then
      local a, b = range:match("^(%d+)%-(%d+)$")
      a, b = tonumber(a or range:match("^(%d+)$")), tonumber(b or a or range:match("^(%d+)$"))
      if not a or a < lo or b > hi or a > b then return false end
    end
  end
  return true
end

describe("the crontab recipe", function()
  local text = H.read_file(RECIPES .. "crontab")
  local vars, jobs = {}, {}
  for line in text:gmatch("[^\n]+") do
    if not line:find("^%s*#") then
      local k, v = line:match("^([%a_][%w_]*)=(.*)$")
      if k then
        vars[k] = v
      else
        jobs[#jobs + 1] = line
      end
    end
  end

  it("is one job with five valid time fields and no bare %", function()
    assert.are.equal(1, #jobs)
    local fields = {}
    for f in jobs[1]:gmatch("%S+") do fields[#fields + 1] = f end
    for i, r in ipairs(RANGES) do
      assert.is_true(valid_field(fields[i], r[1], r[2]), "time field " .. i .. ": " .. fields[i])
    end
    local command = jobs[1]:match("^%S+%s+%S+%s+%S+%s+%S+%s+%S+%s+(.*)$")
    assert.is_nil(command:gsub("\\%%", ""):find("%", 1, true), "a bare % in the command")
    assert.matches("^taskrun %-%-log%-on%-failure ", command)
    assert.matches("--metrics-file " .. METRICS_PATH, command, 1, true)
    assert.matches("--ping https://", command, 1, true)
    assert.is_truthy(vars.MAILTO)
    -- the README shows the same line
    assert.matches("\n      " .. jobs[1] .. "\n", H.read_file("README.md"), 1, true)
  end)

  it("runs as cron runs it: silent when it succeeds, the whole log when it fails", function()
    local s = stand_ins()
    local command = jobs[1]:match("^%S+%s+%S+%s+%S+%s+%S+%s+%S+%s+(.*)$")
    command = substitute(command, s.subst({ ["https://hc-ping.com/your-check-uuid"] = s.ping_url }))
    -- cron's environment: its own few variables and the crontab's, PATH=/usr/bin:/bin, with
    -- `taskrun` installed on it (a directory holding a link to the one just built)
    local bin = H.tmpdir()
    assert.is_true(os.execute("ln -s " .. H.quote(H.output_line("pwd") .. "/taskrun") .. " " .. H.quote(bin)))
    local secret = H.write_tmp("a-refresh-token\n")
    local env = { "HOME=" .. s.dir, "LOGNAME=ops", "SHELL=/bin/sh", "PATH=" .. bin .. ":/usr/bin:/bin",
                  "TASKRUN_STATE_DIR=" .. s.dir .. "/state", "BLUEXP_REFRESH_TOKEN_FILE=" .. secret }
    for k, v in pairs(vars) do
      if k ~= "TASKRUN_STATE_DIR" and k ~= "BLUEXP_REFRESH_TOKEN_FILE" then env[#env + 1] = k .. "=" .. v end
    end
    local function cron(extra)
      local e = {}
      for _, x in ipairs(env) do e[#e + 1] = H.quote(x) end
      if extra then e[#e + 1] = extra end
      local p = io.popen("env -i " .. table.concat(e, " ") .. " /bin/sh -c " .. H.quote(command)
        .. " 2>&1; echo \"exit $?\"")
      local out = p:read("a")
      p:close()
      return out
    end
    assert.are.equal("exit 0\n", cron())
    local out = cron("FAIL=1")
    assert.matches("INFO  restoring db=prod%-db\ntaskrun: failed: the restore of prod%-db failed\n"
      .. "\tat [^\n]+restore%-and%-mount%.lua:2\nexit 3\n$", out)
    s.stub.stop()
    local key = "/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"
    assert.are.same({ key .. "/start", key, key .. "/start", key .. "/3" }, s.ping_paths())
    assert.matches('taskrun_last_run_exit_code{runbook="restore-and-mount.lua"} 3',
      H.read_file(s.metrics), 1, true)
  end)
end)

-- ---- systemd -------------------------------------------------------------------------------

local function has_systemd_analyze()
  return os.execute("command -v systemd-analyze >/dev/null 2>&1")
end

describe("the systemd recipe", function()
  local service = H.read_file(RECIPES .. "taskrun-restore.service")
  local timer = H.read_file(RECIPES .. "taskrun-restore.timer")

  it("is a timer that catches up after downtime and spreads its starts, on a oneshot service",
    function()
    assert.matches("\nPersistent=true\n", timer, 1, true)
    assert.matches("\nRandomizedDelaySec=%d+m?\n", timer)
    assert.matches("\nOnCalendar=", timer, 1, true)
    assert.matches("\nWantedBy=timers.target\n", timer, 1, true)
    assert.matches("\nType=oneshot\n", service, 1, true)
    assert.matches("\nLoadCredential=[%w-]+:", service)
    assert.matches("\nEnvironment=BLUEXP_REFRESH_TOKEN_FILE=%d/", service, 1, true)
  end)

  it("passes systemd-analyze verify without a warning (make deps installs it)", function()
    assert.is_truthy(has_systemd_analyze(), "systemd-analyze is missing: run make deps")
    local dir = H.tmpdir()
    -- verify checks that ExecStart's program exists: the one just built stands in
    local f = assert(io.open(dir .. "/taskrun-restore.service", "w"))
    f:write((service:gsub("/usr/local/bin/taskrun", H.output_line("pwd") .. "/taskrun")))
    f:close()
    f = assert(io.open(dir .. "/taskrun-restore.timer", "w"))
    f:write(timer)
    f:close()
    local p = io.popen("cd " .. H.quote(dir) .. " && systemd-analyze verify --man=no "
      .. "./taskrun-restore.service ./taskrun-restore.timer 2>&1; echo \"exit $?\"")
    local out = p:read("a")
    p:close()
    assert.are.equal("exit 0\n", out)
  end)

  it("runs its ExecStart, with the variables and specifiers systemd fills in", function()
    local s = stand_ins()
    local exec = service:match("\nExecStart=([^\n]+)")
    exec = substitute(exec, s.subst({ ["/usr/local/bin/taskrun"] = "./taskrun",
                                      ["${PING_URL}"] = s.ping_url }))
    local secret = H.write_tmp("a-refresh-token\n")
    local p = io.popen("env TASKRUN_STATE_DIR=" .. H.quote(s.dir .. "/state")
      .. " BLUEXP_REFRESH_TOKEN_FILE=" .. H.quote(secret) .. " " .. exec .. " 2>&1; echo \"exit $?\"")
    local out = p:read("a")
    p:close()
    s.stub.stop()
    assert.matches("INFO  restoring db=prod%-db\nexit 0\n$", out)
    assert.are.equal(2, #s.ping_paths())
    assert.matches('taskrun_last_run_exit_code{runbook="restore-and-mount.lua"} 0',
      H.read_file(s.metrics), 1, true)
  end)
end)

-- ---- Kubernetes ------------------------------------------------------------------------------

describe("the Kubernetes recipe", function()
  local doc, job, pod, container = cronjob.read(RECIPES .. "cronjob.yaml")

  it("is a CronJob that never overlaps and skips a start missed by too long", function()
    cronjob.assert_safe(doc, pod)
    assert.are.equal(1, #pod.containers)
    -- exits another try cannot mend fail the Job at once
    local rule = job.podFailurePolicy.rules[1]
    assert.are.same({ "FailJob", "In", { 2, 3, 5, 6 } },
      { rule.action, rule.onExitCodes.operator, rule.onExitCodes.values })
  end)

  it("takes the credentials from a Secret mounted read-only, through a *_TOKEN_FILE variable",
    function()
    local mounts, volumes = {}, {}
    for _, m in ipairs(container.volumeMounts) do mounts[m.name] = m end
    for _, v in ipairs(pod.volumes) do volumes[v.name] = v end
    local files = 0
    for _, e in ipairs(container.env) do
      if e.name:find("_TOKEN_FILE$") then
        files = files + 1
        local found = false
        for name, m in pairs(mounts) do
          if e.value:sub(1, #m.mountPath + 1) == m.mountPath .. "/" then
            found = true
            assert.is_true(m.readOnly, name .. " is not mounted read-only")
            assert.is_truthy(volumes[name].secret, name .. " is not a Secret")
            local key = e.value:sub(#m.mountPath + 2)
            local listed = false
            for _, item in ipairs(volumes[name].secret.items or { { path = key } }) do
              listed = listed or item.path == key
            end
            assert.is_true(listed, key .. " is not in the Secret's items")
          end
        end
        assert.is_true(found, e.name .. " points at no mounted volume")
      end
    end
    assert.is_true(files >= 1, "no *_TOKEN_FILE variable")
    -- no token in the manifest itself
    for _, e in ipairs(container.env) do
      assert.is_nil(e.name:find("_TOKEN$"), e.name .. " holds a token in the manifest")
    end
  end)

  it("runs its container's arguments", function()
    local s = stand_ins()
    local args = {}
    for i, a in ipairs(container.args) do
      args[i] = substitute(a, s.subst({ ["$(PING_URL)"] = s.ping_url,
        ["/runbooks/restore-and-mount.lua"] = s.runbook }))
    end
    local r = H.run({ flags = args, env = { TASKRUN_STATE_DIR = s.dir .. "/state" } })
    s.stub.stop()
    assert.are.equal(0, r.code, r.stderr)
    local last
    for line in r.stderr:gmatch("[^\n]+") do last = json.decode(line) end
    assert.are.same({ "run_end", 0 }, { last.event, last.exit_code })
    assert.are.equal(2, #s.ping_paths())
  end)
end)
