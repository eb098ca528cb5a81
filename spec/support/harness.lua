-- Runs ./taskrun and ./taskrun-sim as real processes, the way a user or cron does, and collects
-- what they print and how they exit.
local H = {}

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
H.quote = quote

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
H.read_file = read_file

-- The file's contents, or nil when it cannot be opened (not there yet, say).
function H.read_if_there(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function H.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- A YAML file as Lua values, read by Debian's python3-yaml (make deps installs it) through JSON.
function H.read_yaml(path)
  local p = assert(io.popen("python3 -c 'import json, sys, yaml; "
    .. "print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' " .. quote(path) .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  assert(ok, "python3 could not read " .. path .. " (is python3-yaml installed? make deps): " .. out)
  return require("cjson").decode(out)
end

-- The first line a shell command prints (without its newline), or nil.
function H.output_line(cmd)
  local p = assert(io.popen(cmd))
  local line = p:read("l")
  p:close()
  return line
end

-- A new empty directory (mktemp -d), e.g. a state directory of a spec's own.
function H.tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  return d
end

function H.write_tmp(content, suffix)
  local path = os.tmpname() .. (suffix or "")
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
  return path
end

local function env_prefix(env)
  local parts = {}
  for k, v in pairs(env or {}) do
    if v == false then
      parts[#parts + 1] = "-u " .. k
    else
      parts[#parts + 1] = k .. "=" .. quote(v)
    end
  end
  table.sort(parts)
  return "env " .. table.concat(parts, " ") .. " "
end

-- Builds the command line for ./taskrun with opts.flags, then opts.script (Lua text written to a
-- temp file) or opts.script_path, then opts.args.
local function taskrun_command(opts)
  local argv = { "./taskrun" }
  for _, f in ipairs(opts.flags or {}) do argv[#argv + 1] = quote(f) end
  if opts.script then
    argv[#argv + 1] = quote(H.write_tmp(opts.script, ".lua"))
  elseif opts.script_path then
    argv[#argv + 1] = quote(opts.script_path)
  end
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = quote(a) end
  return env_prefix(opts.env) .. table.concat(argv, " ")
end

local function exit_code(ok, how, code)
  if how == "signal" then return 128 + code end
  return code
end

-- A runbook that hangs must fail its spec, not stall the whole run: past this, timeout(1) ends
-- it with code 124.
local HANG_LIMIT = "120"

-- Runs taskrun to completion: returns { code =, stdout =, stderr = }.
function H.run(opts)
  local errpath = os.tmpname()
  local p = assert(io.popen("timeout -k 5 " .. HANG_LIMIT .. " " .. taskrun_command(opts)
    .. " 2>" .. quote(errpath)
    .. (opts.stdin and (" <" .. quote(H.write_tmp(opts.stdin))) or " </dev/null"), "r"))
  local out = p:read("a")
  local code = exit_code(p:close())
  local err = read_file(errpath)
  os.remove(errpath)
  return { code = code, stdout = out, stderr = err }
end

-- Starts a command in the background; the returned process reads its stdout line by line,
-- can be signalled, and is waited for with :wait() -> { code =, stdout = rest, stderr = }.
local function spawn(cmd)
  local errpath = os.tmpname()
  local p = assert(io.popen("echo $$; exec " .. cmd .. " 2>" .. quote(errpath) .. " </dev/null", "r"))
  local pid = assert(tonumber(p:read("l")), "no pid from the shell")
  local proc = { pid = pid, errpath = errpath }   -- errpath: its stderr so far
  function proc:line() return p:read("l") end
  function proc:kill(sig) os.execute("kill -" .. (sig or "TERM") .. " " .. pid .. " 2>/dev/null") end
  function proc:wait()
    local rest = p:read("a")
    local code = exit_code(p:close())
    local err = read_file(errpath)
    os.remove(errpath)
    -- Killed: what it held outside the process may take a moment to be let go (backend.lua).
    if code == 137 and H.after_kill then H.after_kill(pid) end
    return { code = code, stdout = rest, stderr = err }
  end
  return proc
end

-- opts.setsid: in a session of its own, so a spec can signal its whole process group the way a
-- terminal's Ctrl-C does, without signalling busted. The shell popen starts is no group leader,
-- so setsid does not fork: the pid is still taskrun's.
function H.spawn(opts)
  return spawn((opts.setsid and "setsid " or "") .. taskrun_command(opts))
end

-- Starts ./taskrun-sim on a free loopback port. Returns sim with .url and :stop().
function H.start_sim(args)
  local argv = { "./taskrun-sim", "--port", "0" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = quote(a) end
  local proc = spawn(table.concat(argv, " "))
  local url = proc:line()
  assert(url and url:match("^http://"), "taskrun-sim did not print its URL")
  local sim = {
    url = url,
    pid = proc.pid,
    stop = function()
      proc:kill("TERM")
      return proc:wait()
    end,
  }
  -- One request to it from the spec (curl: the spec process has no HTTP client): its admin
  -- endpoints, or a vendor's API with `token`. Returns the decoded JSON answer (nil for an
  -- empty body) and the HTTP status.
  function sim.call(method, path, body, token)
    local cmd = "curl -sS -X " .. method .. " -w '\\n%{http_code}' "
    if token then cmd = cmd .. "-H " .. quote("Authorization: Bearer " .. token) .. " " end
    if body then
      cmd = cmd .. "-H 'content-type: application/json' --data-binary "
        .. quote(require("cjson").encode(body)) .. " "
    end
    local p = assert(io.popen(cmd .. quote(url .. path)))
    local out = p:read("a")
    p:close()
    local text, code = out:match("^(.*)\n(%d+)$")
    assert(code, method .. " " .. path .. ": " .. out)
    return text ~= "" and require("cjson").decode(text) or nil, tonumber(code)
  end
  return sim
end

-- Starts build/taskrun-stub (tools/stub_server.c) on a free loopback port: the n-th connection
-- gets the n-th of `responses` (raw bytes, written to temp files), the last one again after
-- that. opts.fill adds that many bytes after each response; opts.hold keeps the connection open,
-- silent, after writing; opts.record names a directory where the n-th request is written to
-- the file n, whole. Returns stub with .url and :stop().
function H.start_stub(responses, opts)
  opts = opts or {}
  local argv = { "build/taskrun-stub", "--port", "0" }
  if opts.fill then argv[#argv + 1] = "--fill " .. math.tointeger(opts.fill) end
  if opts.hold then argv[#argv + 1] = "--hold" end
  if opts.record then argv[#argv + 1] = "--record " .. quote(opts.record) end
  local files = {}
  for _, r in ipairs(responses) do
    files[#files + 1] = H.write_tmp(r)
    argv[#argv + 1] = quote(files[#files])
  end
  local proc = spawn(table.concat(argv, " "))
  local url = proc:line()
  assert(url and url:match("^http://"), "taskrun-stub did not print its URL")
  local stopped
  return {
    url = url,
    -- Once: a spec may stop it itself and in a finally() too, which runs when an assertion
    -- failed first (a stub left running would keep busted waiting for it at exit).
    stop = function()
      if stopped then return stopped end
      proc:kill("TERM")
      stopped = proc:wait()
      for _, f in ipairs(files) do os.remove(f) end
      return stopped
    end,
  }
end

-- The environment `taskrun --sim` gives a script, for specs that start the simulator themselves.
function H.sim_env(sim, extra)
  local env = {
    TASKRUN_SIM_URL = sim.url,
    REDPANDA_DATAPLANE_URL = sim.url, REDPANDA_TOKEN = "sim-redpanda-token",
    KEYCARD_API_URL = sim.url, KEYCARD_TOKEN = "sim-keycard-token",
    ASTRA_URL = sim.url, ASTRA_TOKEN = "sim-astra-token",
    ASTRA_ACCOUNT_ID = "8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e",
    BLUEXP_URL = sim.url, BLUEXP_TOKEN = "sim-bluexp-token",
    BLUEXP_ACCOUNT_ID = "account-sim00001", BLUEXP_AGENT_ID = "simAgent0001clients",
  }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

-- Runs a runbook under `taskrun --sim` with spec/support/simctl.lua loaded as `sim`.
function H.run_sim(script, opts)
  opts = opts or {}
  opts.flags = opts.flags or {}
  table.insert(opts.flags, 1, "--sim")
  opts.script = 'local sim = dofile("spec/support/simctl.lua")\n' .. script
  return H.run(opts)
end

-- The pair of runners a simulator spec file uses: run(script, opts) runs `prelude` then script
-- under --sim; ok(script, opts) also asserts exit 0 and returns stdout and the result.
function H.sim_runners(prelude)
  local assert = require("luassert")
  local function run(script, opts)
    return H.run_sim(prelude .. script, opts)
  end
  local function ok(script, opts)
    local r = run(script, opts)
    assert.are.equal(0, r.code, r.stderr)
    return r.stdout, r
  end
  return run, ok
end

-- The prelude of the wait specs: BlueXP and Redpanda, the job path faults match, fast
-- intervals and with(t), fast's options with t's on top.
H.WAIT_PRELUDE = "local bluexp, redpanda = taskrun.bluexp, taskrun.redpanda\n"
  .. "local http = taskrun.http\n"
  .. 'local JOBS = "/account/account-sim00001/providers/cloudmanager_cbs/api/v1/job/*"\n'
  .. "local fast = { interval = 0.05, max_interval = 0.2 }\n"
  .. "local function with(t) local o = {} for k, v in pairs(fast) do o[k] = v end "
  .. "for k, v in pairs(t) do o[k] = v end return o end\n"

return H
