-- Tokens never reach the output: not stdout, not stderr, not at --log-level debug, not in JSON
-- logs, whatever the server answers (success, 404, no server, 5xx, 429, 401).
local H = require("harness")

-- Distinctive tokens, so a leak of any of them, or of a piece, is found by "SECRET".
local TOKENS = {
  REDPANDA_TOKEN = "tok-rp-SECRET-1234", KEYCARD_TOKEN = "tok-kc-SECRET-5678",
  ASTRA_TOKEN = "tok-as-SECRET-9012", BLUEXP_TOKEN = "tok-bx-SECRET-3456",
}
-- A token of the runbook's own, given to explicit clients, that the server refuses.
local WRONG = "tok-wrong-SECRET-0000"

local PROVIDERS = { "redpanda", "keycard", "astra", "bluexp" }

-- Calls each provider's functions down every path a token could leak by, printing results
-- and errors with tostring, and logging each error too. Ends with an uncaught 401, so the error
-- report on stderr is covered.
local RUNBOOK = [[
local sim = dofile("spec/support/simctl.lua")
local redpanda, keycard = taskrun.redpanda, taskrun.keycard
local astra, bluexp = taskrun.astra, taskrun.bluexp
local providers = { "redpanda", "keycard", "astra", "bluexp" }

local function try(what, f, ...)
  local ok, res = pcall(f, ...)
  print(what .. ": " .. (ok and "ok " or "") .. tostring(res))
  if not ok then taskrun.log.warn(what .. " failed", { error = tostring(res) }) end
  return ok and res or nil
end

local function wait(task)
  return taskrun.wait(task, { interval = "50ms", backoff = 1, timeout = "20s" })
end

-- The module itself, or a client made with opts that is called the same way.
local function api(mod, opts)
  if not opts then return mod end
  local c = mod.client(opts)
  return setmetatable({}, { __index = function(_, name)
    return function(...) return c[name](c, ...) end
  end })
end

-- One call of each provider, through the default clients or clients made with opts.
local function each(label, opts)
  local function call(mod) return api(mod, opts) end
  try("redpanda " .. label, function() return #call(redpanda).mount_tasks() end)
  try("keycard " .. label, function() return call(keycard).catalog_task("z1", "nosuchtask") end)
  try("astra " .. label, function() return #call(astra).tasks() end)
  try("bluexp " .. label, function() return #call(bluexp).restore_jobs() end)
end

local function fault_all(kind)
  for _, p in ipairs(providers) do sim.fault({ provider = p, kind = kind }) end
end

-- Tasks move on at each read, so the waits below end at once.
sim.config({ mode = "poll" })
local restore = { restore = { type = "volume", source = {}, target = {} } }

try("redpanda wait", wait, redpanda.mount_topics({ "orders" }))
local unmount = redpanda.unmount_topics({ "orders" })
try("redpanda update", redpanda.update_mount_task, unmount.id, "prepare")
try("redpanda delete", redpanda.delete_mount_task, unmount.id)
local installed = try("keycard wait", wait, keycard.install("z1", { package_id = "pkg_linear" }))
try("keycard get_install", function() return keycard.get_install("z1", installed.install_id).id end)
try("keycard uninstall", keycard.uninstall, "z1", installed.install_id)
try("astra wait", wait, astra.backup("app-1"))
local job = try("bluexp wait", wait, bluexp.start_restore(restore))
try("bluexp restore_job", bluexp.restore_job, job.id)

try("redpanda 404", redpanda.mount_task, 999999)
try("keycard 404", keycard.catalog_task, "z1", "nosuchtask")
try("astra 404", astra.task, "nosuchtask")
try("bluexp 404", bluexp.job, "nosuchjob")

each("transport", { url = "http://127.0.0.1:1" })   -- nothing listens on port 1

fault_all("server_error")
each("503")
fault_all("rate_limit")
each("429")
fault_all("expired_token")
each("expired")
each("wrong", { token = os.getenv("WRONG_TOKEN") })

-- The simulator rotates every token: the runbook's tokens are now refused, mid-wait too.
local pending = bluexp.start_restore(restore)
sim.config({ tokens = { redpanda = "rotated-rp", keycard = "rotated-kc", astra = "rotated-as",
                        bluexp = "rotated-bx" } })
-- Under --sim the tokens are obtained: the simulator also revokes them and takes other
-- credentials, so renewing them is refused too.
if os.getenv("REDPANDA_CLIENT_SECRET") then
  sim.config({ credentials = {
    redpanda = { client_id = "sim-redpanda-client", client_secret = "rotated-rp-secret" },
    keycard = { client_id = "sim-keycard-client", client_secret = "rotated-kc-secret" },
    bluexp = { refresh_token = "rotated-bx-refresh" } } })
  taskrun.http.delete(sim.url .. "/_sim/tokens")
end
try("bluexp wait", wait, pending)
each("401")
print("last: an uncaught 401")
io.stdout:flush()
bluexp.restore_jobs()
]]

-- The runbook went down every path: otherwise a clean output would prove nothing.
local KIND_OF = { ["404"] = "not_found", transport = "transport", ["503"] = "http",
                  ["429"] = "http", expired = "auth", wrong = "auth", ["401"] = "auth" }

-- `obtained`: the run got its tokens itself (--sim), so an expired one was renewed and the
-- call went on past the fault, where a static token ends in auth.
local function assert_walked(r, obtained)
  assert.are.equal(5, r.code, r.stderr)
  local out = "\n" .. r.stdout
  for _, call in ipairs({ "redpanda update: ok redpanda task", "redpanda delete: ok true",
                          "keycard get_install: ok ", "keycard uninstall: ok keycard task",
                          "bluexp restore_job: ok bluexp task" }) do
    assert.matches("\n" .. call, out, 1, true)
  end
  for _, p in ipairs(PROVIDERS) do
    assert.matches("\n" .. p .. " wait: ok " .. p .. " task", out)
    for label, kind in pairs(KIND_OF) do
      if obtained and label == "expired" and p ~= "astra" then
        assert.matches("\n" .. p .. " expired: ", out, 1, true)
        assert.is_nil(out:find("\n" .. p .. " expired: auth: ", 1, true), out)
      else
        assert.matches("\n" .. p .. " " .. label .. ": " .. kind .. ": ", out)
      end
    end
  end
  for _, answer in ipairs({ "answered 404", "answered 503", "answered 429", "answered 401",
                            "failed: Failed to connect", "last: an uncaught 401" }) do
    assert.matches(answer, out, 1, true)
  end
  -- debug was on: every request was logged; the uncaught 401 was reported
  assert.matches("http GET http://127.0.0.1:%d+/v1/cloud%-storage/mount%-tasks", r.stderr)
  assert.matches("auth: bluexp: GET", r.stderr, 1, true)
end

local function assert_absent(tokens, where, text)
  for name, token in pairs(tokens) do
    assert.is_nil(text:find(token, 1, true), name .. " appears in " .. where .. ":\n" .. text)
  end
end

-- Runs the runbook against a simulator started here, which accepts only TOKENS.
local function run_with_own_tokens(flags)
  local scenario = H.write_tmp(string.format(
    '{"tokens":{"redpanda":%q,"keycard":%q,"astra":%q,"bluexp":%q}}', TOKENS.REDPANDA_TOKEN,
    TOKENS.KEYCARD_TOKEN, TOKENS.ASTRA_TOKEN, TOKENS.BLUEXP_TOKEN), ".json")
  local sim = H.start_sim({ "--scenario", scenario })
  local env = H.sim_env(sim, TOKENS)
  env.WRONG_TOKEN = WRONG
  local ok, r = pcall(H.run, { flags = flags, script = RUNBOOK, env = env })
  local sim_result = sim.stop()
  os.remove(scenario)
  assert(ok, r)
  return r, sim_result
end

describe("tokens in output", function()
  it("a runbook that prints a token itself, one it never used, sees it redacted", function()
    local r = H.run({ script = 'print(os.getenv("REDPANDA_TOKEN"))',
                      env = { REDPANDA_TOKEN = TOKENS.REDPANDA_TOKEN } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("[REDACTED]\n", r.stdout)
  end)

  it("given every kind of answer, no token appears with --log-level debug", function()
    local r, sim = run_with_own_tokens({ "--log-level", "debug" })
    assert_walked(r)
    assert.matches("DEBUG http GET", r.stderr, 1, true)
    for where, text in pairs({ stdout = r.stdout, stderr = r.stderr,
                               ["the simulator's stderr"] = sim.stderr }) do
      assert_absent(TOKENS, where, text)
      assert.is_nil(text:find("SECRET", 1, true), "a piece of a token in " .. where)
    end
  end)

  it("given every kind of answer, no token appears in JSON logs at debug level", function()
    local r = run_with_own_tokens({ "--log-level", "debug", "--log-format", "json" })
    assert_walked(r)
    assert.matches('{"time":"[^"]+","level":"debug","msg":"http GET ', r.stderr)
    for where, text in pairs({ stdout = r.stdout, stderr = r.stderr }) do
      assert_absent(TOKENS, where, text)
      assert.is_nil(text:find("SECRET", 1, true), "a piece of a token in " .. where)
    end
  end)

  it("under --sim at debug level, where the simulator's log joins stderr, no token appears",
    function()
    -- --sim's obtained flow: the runbook revokes the tokens and changes the credentials to get
    -- its 401s; the simulator's static tokens must not show either
    local sim_tokens = H.sim_env({ url = "" })
    local r = H.run({ flags = { "--sim", "--log-level", "debug" }, script = RUNBOOK,
                      env = { WRONG_TOKEN = WRONG } })
    assert_walked(r, true)
    -- the simulator's own log is there too
    assert.matches("taskrun-sim: listening on", r.stderr, 1, true)
    local known = { REDPANDA_TOKEN = sim_tokens.REDPANDA_TOKEN,
                    KEYCARD_TOKEN = sim_tokens.KEYCARD_TOKEN, ASTRA_TOKEN = sim_tokens.ASTRA_TOKEN,
                    BLUEXP_TOKEN = sim_tokens.BLUEXP_TOKEN, WRONG = WRONG,
                    REDPANDA_CLIENT_SECRET = "sim-redpanda-secret",
                    KEYCARD_CLIENT_SECRET = "sim-keycard-secret",
                    BLUEXP_REFRESH_TOKEN = "sim-bluexp-refresh" }
    assert_absent(known, "stdout", r.stdout)
    assert_absent(known, "stderr", r.stderr)
  end)
end)

-- Every way a runbook writes, and every encoding an output puts a secret in.
local json = require("cjson")

-- The forms a secret takes in taskrun's outputs: raw, JSON-escaped (as taskrun's logs and as
-- lua-cjson write it), text-log escaped, percent-encoded.
local function forms_of(secret)
  local cjson_form = json.encode(secret):sub(2, -2)
  local text_form = secret:gsub("[%c\127]", function(c)
    return ({ ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" })[c]
      or string.format("\\x%02x", c:byte())
  end)
  local pct = secret:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end)
  return { secret, cjson_form, (cjson_form:gsub("\\/", "/")), text_form, pct }
end

local function assert_no_form(secrets, where, text)
  for name, secret in pairs(secrets) do
    for _, form in ipairs(forms_of(secret)) do
      assert.is_nil(text:find(form, 1, true),
        name .. " appears in " .. where .. " as " .. form .. ":\n" .. text)
    end
  end
end

-- Credentials of every kind the environment may hold, the runbook never using them: they are
-- known from the start. The 3-character token is redacted like any other.
local ENV_SECRETS = {
  REDPANDA_TOKEN = "tok-rp-SECRET-1234", KEYCARD_TOKEN = "k3y",
  ASTRA_TOKEN = 'tok"as\\SECRET\t9012/x', BLUEXP_TOKEN = "tok-bx-SECRET-3456",
  ACME_CLIENT_SECRET = "acme-SECRET-cs", ACME_REFRESH_TOKEN = "acme-SECRET-rt",
  DB_PASSWORD = "db-SECRET-pw",
}
-- Proxy URLs, whatever the case of their names: their passwords are secrets.
local PROXIES = {
  HTTPS_PROXY = { "http://proxyuser:Pr0xy-SECRET-1@127.0.0.1:9", "Pr0xy-SECRET-1" },
  all_proxy = { "socks5h://u:lower-SECRET-2@127.0.0.1:9", "lower-SECRET-2" },
  Http_Proxy = { "http://u:mixed%2FSECRET-3@127.0.0.1:9", "mixed/SECRET-3" },
}
local FILE_SECRET = "file-SECRET-cs"

-- Writes each secret down every output path: print, io.write (to stdout, then to stderr as the
-- default output), io.stdout:write, io.stderr:write, json.encode, an error's text as a vendor
-- echo would make it, log lines (message and field), and a URL holding it percent-encoded.
local EVERY_PATH = [[
local json = taskrun.json
local function pct(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
local secrets = {}
for name in (os.getenv("NAMES")):gmatch("%S+") do secrets[#secrets + 1] = os.getenv(name) end
for name in (os.getenv("PROXY_PASSWORDS")):gmatch("%S+") do secrets[#secrets + 1] = name end
local f = assert(io.open(os.getenv("REDPANDA_CLIENT_SECRET_FILE")))
secrets[#secrets + 1] = f:read("l")
f:close()
for _, v in ipairs(secrets) do
  print("print", v)
  io.write("io.write ", v, "\n")
  io.stdout:write("io.stdout:write ", v, "\n")
  io.stderr:write("io.stderr:write ", v, "\n")
  print(json.encode({ encoded = v }))
  print(tostring(taskrun.error("http", "the vendor echoed " .. v)))
  taskrun.log.info("echo " .. v, { value = v })
  taskrun.log.info("GET https://vendor.example/v1?t=" .. pct(v))
end
io.output(io.stderr)
io.write("default output ", secrets[1], "\n")
for _, name in ipairs({ "HTTPS_PROXY", "all_proxy", "Http_Proxy" }) do
  print(name, os.getenv(name))
end
]]

local function every_path_env()
  local env, names, passwords = {}, {}, {}
  for name, v in pairs(ENV_SECRETS) do
    env[name] = v
    names[#names + 1] = name
  end
  for name, p in pairs(PROXIES) do
    env[name] = p[1]
    passwords[#passwords + 1] = p[2]:gsub("/", "%%2F")
  end
  env.NAMES = table.concat(names, " ")
  env.PROXY_PASSWORDS = table.concat(passwords, " ")
  env.REDPANDA_CLIENT_SECRET_FILE = H.write_tmp(FILE_SECRET .. "\n")
  return env
end

local function all_secrets()
  local all = { FILE = FILE_SECRET }
  for name, v in pairs(ENV_SECRETS) do all[name] = v end
  for name, p in pairs(PROXIES) do all[name] = p[2] end
  all.Http_Proxy_encoded = "mixed%2FSECRET-3"
  return all
end

describe("every output path", function()
  for _, format in ipairs({ "text", "json" }) do
    it("given credentials in the environment, none shows in print, io.write, io.stdout:write, "
      .. "io.stderr:write, json.encode, error texts or " .. format .. " logs, raw or escaped",
      function()
      local env = every_path_env()
      local r = H.run({ script = EVERY_PATH, env = env, flags = { "--log-format", format } })
      os.remove(env.REDPANDA_CLIENT_SECRET_FILE)
      assert.are.equal(0, r.code, r.stderr)
      -- every secret went down every path: those of the variables, the proxies and the file
      local n = 1
      for _ in pairs(ENV_SECRETS) do n = n + 1 end
      for _ in pairs(PROXIES) do n = n + 1 end
      for _, path in ipairs({ "print", "io.write", "io.stdout:write", "the vendor echoed",
                              '{"encoded":' }) do
        local seen = 0
        for _ in r.stdout:gmatch(path:gsub("%p", "%%%0") .. "[^\n]*%[REDACTED%]") do
          seen = seen + 1
        end
        assert.are.equal(n, seen, path .. ": redacted lines\n" .. r.stdout)
      end
      assert.matches("io.stderr:write [REDACTED]", r.stderr, 1, true)
      assert.matches("default output [REDACTED]", r.stderr, 1, true)
      assert.matches("HTTPS_PROXY\thttp://proxyuser:[REDACTED]@127.0.0.1:9", r.stdout, 1, true)
      assert_no_form(all_secrets(), "stdout", r.stdout)
      assert_no_form(all_secrets(), "stderr", r.stderr)
      assert.is_nil(r.stdout:find("SECRET", 1, true), r.stdout)
      assert.is_nil(r.stderr:find("SECRET", 1, true), r.stderr)
      if format == "json" then
        for line in r.stderr:gmatch("[^\n]+") do
          if line:sub(1, 1) == "{" then
            local entry = json.decode(line)
            assert.is_nil(entry.msg:find("SECRET", 1, true), line)
          end
        end
      end
    end)
  end

  -- Log lines were redacted before stdout was: these show each kind of secret on its own.
  it("knows every credential variable from the start: a log line echoing one never used shows "
    .. "none", function()
    local file = H.write_tmp("file-SECRET-cs\n")
    local r = H.run({ script = [[
      for _, name in ipairs({ "REDPANDA_TOKEN", "ACME_CLIENT_SECRET", "ACME_REFRESH_TOKEN",
                              "DB_PASSWORD" }) do
        taskrun.log.info(name .. " is " .. os.getenv(name))
      end
      local f = assert(io.open(os.getenv("KEYCARD_CLIENT_SECRET_FILE")))
      taskrun.log.info("the file holds " .. f:read("a"))
      f:close()
    ]], env = { REDPANDA_TOKEN = "tok-rp-SECRET-1234", ACME_CLIENT_SECRET = "acme-SECRET-cs",
                ACME_REFRESH_TOKEN = "acme-SECRET-rt", DB_PASSWORD = "db-SECRET-pw",
                KEYCARD_CLIENT_SECRET_FILE = file } })
    os.remove(file)
    assert.are.equal(0, r.code, r.stderr)
    for _, name in ipairs({ "REDPANDA_TOKEN", "ACME_CLIENT_SECRET", "ACME_REFRESH_TOKEN",
                            "DB_PASSWORD" }) do
      assert.matches("INFO  " .. name .. " is [REDACTED]\n", r.stderr, 1, true)
    end
    assert.matches("INFO  the file holds [REDACTED]\\n\n", r.stderr, 1, true)
    assert.is_nil(r.stderr:find("SECRET-", 1, true), r.stderr)
  end)

  it("redacts a 3-character token from the environment and a 1-character secret from log lines",
    function()
    local r = H.run({ script = [[
      taskrun.secret("Q")
      taskrun.log.info("token " .. os.getenv("KEYCARD_TOKEN") .. " and aQb")
    ]], env = { KEYCARD_TOKEN = "k3y" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("INFO  token [REDACTED] and a[REDACTED]b\n", r.stderr, 1, true)
  end)

  for _, format in ipairs({ "json", "text" }) do
    it("redacts a secret holding a quote, a backslash and a tab from " .. format .. " logs, raw "
      .. "and escaped", function()
      local secret = 'tok"as\\SECRET\t9012'
      local r = H.run({ flags = { "--log-format", format }, env = { ASTRA_TOKEN = secret },
        script = 'local t = taskrun.secret(os.getenv("ASTRA_TOKEN"))\n'
          .. 'taskrun.log.info("echo " .. t, { value = t, quoted = "a " .. t })' })
      assert.are.equal(0, r.code, r.stderr)
      assert_no_form({ ASTRA_TOKEN = secret }, "stderr", r.stderr)
      assert.is_nil(r.stderr:find("SECRET", 1, true), r.stderr)
      if format == "json" then
        local entry = json.decode(r.stderr:match("^[^\n]+"))   -- the run_end event follows
        assert.are.same({ "echo [REDACTED]", "[REDACTED]", "a [REDACTED]" },
          { entry.msg, entry.value, entry.quoted })
      else
        assert.matches('INFO  echo [REDACTED] quoted="a [REDACTED]" value="[REDACTED]"\n',
          r.stderr, 1, true)
      end
    end)
  end

  -- A vendor's API written in Go echoes a secret as encoding/json writes it: \u0008 for a
  -- backspace, \u003c \u003e \u0026 for < > &.
  it("redacts a secret echoed as Go's JSON encoder escapes it", function()
    local r = H.run({ env = { ASTRA_TOKEN = "tok<SECRET>&\bx" }, script = [[
      taskrun.secret(os.getenv("ASTRA_TOKEN"))
      print([=[{"error":"bad token tok\u003cSECRET\u003e\u0026\u0008x"}]=])
    ]] })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal('{"error":"bad token [REDACTED]"}\n', r.stdout)
  end)

  it("redacts the password of a proxy URL from log lines, whatever the case of its name",
    function()
    local env = {}
    for name, p in pairs(PROXIES) do env[name] = p[1] end
    local r = H.run({ env = env, script = [[
      for _, name in ipairs({ "HTTPS_PROXY", "all_proxy", "Http_Proxy" }) do
        taskrun.log.info("proxy " .. os.getenv(name))
      end
    ]] })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("INFO  proxy http://proxyuser:[REDACTED]@127.0.0.1:9\n", r.stderr, 1, true)
    assert.matches("INFO  proxy socks5h://u:[REDACTED]@127.0.0.1:9\n", r.stderr, 1, true)
    assert.is_nil(r.stderr:find("SECRET", 1, true), r.stderr)
  end)

  it("redacts a secret of one character that the runbook registers", function()
    local r = H.run({ script = 'taskrun.secret("Q")\nprint("aQb")\ntaskrun.log.info("cQd")' })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("a[REDACTED]b\n", r.stdout)
    assert.matches("INFO  c[REDACTED]d", r.stderr, 1, true)
  end)

  it("shows no password of a URL that does not parse, in the error, its text or the log",
    function()
    local r = H.run({ script = [[
      for _, url in ipairs({ "http://user:pa SECRET ss@host/", "http://user:p#SECRET@host/",
                             "http://user:SECRET@host:99999/", "http://user:SECRET@ho st/" }) do
        local ok, err = pcall(taskrun.http.get, url)
        print(ok, tostring(err))
        taskrun.log.warn("request failed", { error = tostring(err) })
      end
      taskrun.http.get("http://user:SECRET@[::1/")
    ]] })
    assert.are.equal(2, r.code, r.stderr)
    assert.is_nil(r.stderr:find("SECRET", 1, true), r.stderr)
    local bad = 0
    -- http.c masks the userinfo it quotes ("***"); the redactor masks any password left.
    for line in r.stdout:gmatch("[^\n]+") do
      if line:find('^false\tusage: http: bad URL "http://user:%[REDACTED%]@')
        or line:find('^false\tusage: http: bad URL "http://%*%*%*@') then
        bad = bad + 1
      end
    end
    assert.are.equal(4, bad, r.stdout)
    assert.matches('taskrun: usage: http: bad URL "http://***@[::1/"', r.stderr, 1, true)
    assert.is_nil(r.stdout:find("SECRET", 1, true), r.stdout)
    assert.is_nil(r.stderr:find("SECRET", 1, true), r.stderr)
  end)
end)

-- Obtained credentials: client secrets, refresh tokens, and the access tokens the simulator
-- issues. The issued tokens are random and the simulator's admin API never shows one, so the
-- runbook captures them itself: it wraps taskrun.http.request (the one function every provider
-- and token request goes through), and writes every Bearer token taskrun sends and every
-- access_token a token endpoint answers to the file CAPTURE, raw (a file the runbook opens is
-- no output of taskrun's: nothing there is redacted). It then prints and logs each token (it
-- must read [REDACTED]), gets tokens renewed (1 s lifetimes, and a revocation: a 401 renewed),
-- provokes a 401 from each token endpoint with a wrong secret, and saves the simulator's
-- request log to REQUESTS, raw too. The spec looks for every secret and every captured token
-- in stdout, stderr (debug text or JSON logs, the simulator's log under --sim) and that log.
local OBTAINING = [[
local http = require("taskrun.http")
local json = require("taskrun.json")
local base = os.getenv("TASKRUN_SIM_URL")
local capture = assert(io.open(os.getenv("CAPTURE"), "w"))
local seen, count = {}, { redpanda = 0, keycard = 0, bluexp = 0 }
local function keep(p, token)
  if token and not seen[token] then
    seen[token] = true
    if count[p] then count[p] = count[p] + 1 end
    capture:write(p, " ", token, "\n")
    capture:flush()
  end
end
local request = http.request
http.request = function(opts)
  local res = request(opts)
  local p = (opts.url:match("/(%a+)/oauth/token") or (opts.url:find("service-account-token",
    1, true) and "keycard"))
  local auth = opts.headers and opts.headers.Authorization
  if not p and auth then
    p = opts.url:find("mount-tasks", 1, true) and "redpanda"
      or opts.url:find("/zones/", 1, true) and "keycard" or "bluexp"
    keep(p, auth:match("^Bearer (.+)"))
  end
  if p and res.status == 200 and opts.method == "POST" and not auth then
    keep(p, res:json().access_token)
  elseif p and res.status == 200 and opts.url:find("service-account-token", 1, true) then
    keep(p, res:json().access_token)
  end
  return res
end

local calls = {
  redpanda = function() return #taskrun.redpanda.mount_tasks() end,
  keycard = function() return taskrun.keycard.catalog_task("z1", "nosuchtask") end,
  bluexp = function() return #taskrun.bluexp.restore_jobs() end,
}
local function call(p) local ok, res = pcall(calls[p]) print(p, ok, tostring(res)) end

-- Until every provider has had a token renewed (a second token): 1 s lifetimes.
for _, p in ipairs({ "redpanda", "keycard", "bluexp" }) do
  local n = 0
  repeat
    call(p)
    n = n + 1
    assert(n < 200, p .. ": no renewal")
    if count[p] < 2 then taskrun.sleep("200ms") end
  until count[p] >= 2
end
-- Revoked mid-run: the next request is refused (401), the token renewed, the request repeated.
http.request({ method = "DELETE", url = base .. "/_sim/tokens" })
for p in pairs(calls) do call(p) end

-- Each token taskrun obtained, printed and logged by the runbook: redacted.
for token in pairs(seen) do
  print("token: " .. token)
  io.stderr:write("token: ", token, "\n")
  taskrun.log.info("token", { value = token, text = "Bearer " .. token })
end

-- Wrong credentials: a 401 from each token endpoint, kind auth, its message free of them.
local wrong = {
  redpanda = { client_id = "sim-redpanda-client", client_secret = os.getenv("WRONG_SECRET") },
  keycard = { client_id = "sim-keycard-client", client_secret = os.getenv("WRONG_SECRET") },
  bluexp = { refresh_token = os.getenv("WRONG_REFRESH") },
}
for p, opts in pairs(wrong) do
  local ok, err = pcall(function()
    local c = taskrun[p].client(opts)
    if p == "redpanda" then return c:mount_tasks() end
    if p == "keycard" then return c:catalog_task("z1", "nosuchtask") end
    return c:restore_jobs()
  end)
  print(p .. " wrong", ok, tostring(err))
  taskrun.log.warn("wrong credentials", { error = tostring(err), message = err.message })
end

local out = assert(io.open(os.getenv("REQUESTS"), "w"))
out:write(request({ url = base .. "/_sim/requests" }).body)
out:close()
capture:close()
print("captured", count.redpanda, count.keycard, count.bluexp)
-- the last word: an uncaught auth error, so the error report is covered too
taskrun.bluexp.client(wrong.bluexp):restore_jobs()
]]

-- The credentials the runbook above is given (--sim's own, sim/README.md), and its wrong ones.
local OBTAINED_SECRETS = {
  REDPANDA_CLIENT_SECRET = "sim-redpanda-secret", KEYCARD_CLIENT_SECRET = "sim-keycard-secret",
  BLUEXP_REFRESH_TOKEN = "sim-bluexp-refresh",
  KEYCARD_BASIC = "c2ltLWtleWNhcmQtY2xpZW50OnNpbS1rZXljYXJkLXNlY3JldA==",
  WRONG_SECRET = "wrong-XYZZY-cs-4711", WRONG_REFRESH = "wrong-XYZZY-rt-0815",
}

-- The tokens the runbook captured, by name: { ["redpanda token 1"] = token, ... }.
local function captured(path)
  local tokens, per = {}, {}
  for line in io.lines(path) do
    local p, token = line:match("^(%a+) (.+)$")
    per[p] = (per[p] or 0) + 1
    tokens[p .. " token " .. per[p]] = token
  end
  return tokens, per
end

local function assert_obtaining_walked(r, per)
  assert.are.equal(5, r.code, r.stderr)
  -- at least two tokens each (one renewed) and, after the revocation, one more
  for _, p in ipairs({ "redpanda", "keycard", "bluexp" }) do
    assert.is_true((per[p] or 0) >= 3, p .. " tokens captured: " .. tostring(per[p]))
    assert.matches(p .. " wrong\tfalse\tauth: ", r.stdout, 1, true)
  end
  assert.matches("\ntoken: [REDACTED]\n", "\n" .. r.stdout, 1, true)
  assert.is_nil(r.stdout:find("\ntoken: [^[]"), r.stdout)
end

local function obtaining_env(extra)
  local env = { WRONG_SECRET = OBTAINED_SECRETS.WRONG_SECRET,
                WRONG_REFRESH = OBTAINED_SECRETS.WRONG_REFRESH,
                CAPTURE = os.tmpname(), REQUESTS = os.tmpname() }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

describe("obtained credentials in output", function()
  it("under --sim at debug level: no client secret, refresh token or issued token appears in "
    .. "stdout, stderr (the simulator's log too) or the simulator's request log", function()
    local env = obtaining_env()
    local r = H.run({ flags = { "--sim", "--sim-token-ttl", "1s", "--log-level", "debug" },
                      script = OBTAINING, env = env })
    local tokens, per = captured(env.CAPTURE)
    local requests = H.read_file(env.REQUESTS)
    os.remove(env.CAPTURE)
    os.remove(env.REQUESTS)
    assert_obtaining_walked(r, per)
    -- debug says when a token was obtained and renewed, and the simulator logged too
    assert.matches("DEBUG redpanda: token renewed from REDPANDA_CLIENT_ID", r.stderr, 1, true)
    assert.matches("DEBUG bluexp: the token was refused (401); renewing it", r.stderr, 1, true)
    assert.matches("taskrun-sim: listening on", r.stderr, 1, true)
    -- the request log holds the token requests (their secrets masked) and requests with tokens
    assert.matches("redpanda-auth", requests, 1, true)
    assert.matches("keycard-auth", requests, 1, true)
    assert.matches("bluexp-auth", requests, 1, true)
    for where, text in pairs({ stdout = r.stdout, stderr = r.stderr,
                               ["the simulator's request log"] = requests }) do
      assert_no_form(OBTAINED_SECRETS, where, text)
      assert_no_form(tokens, where, text)
      assert.is_nil(text:find("XYZZY", 1, true), "a piece of a wrong secret in " .. where)
    end
  end)

  it("in JSON logs at debug level and in the simulator's --request-log file", function()
    local reqlog = os.tmpname()
    local sim = H.start_sim({ "--token-ttl", "1s", "--request-log", reqlog })
    local env = obtaining_env({
      TASKRUN_SIM_URL = sim.url, REDPANDA_DATAPLANE_URL = sim.url, KEYCARD_API_URL = sim.url,
      ASTRA_URL = sim.url, BLUEXP_URL = sim.url,
      REDPANDA_CLIENT_ID = "sim-redpanda-client",
      REDPANDA_CLIENT_SECRET = OBTAINED_SECRETS.REDPANDA_CLIENT_SECRET,
      REDPANDA_AUTH_URL = sim.url .. "/redpanda/oauth/token",
      KEYCARD_CLIENT_ID = "sim-keycard-client",
      KEYCARD_CLIENT_SECRET = OBTAINED_SECRETS.KEYCARD_CLIENT_SECRET,
      BLUEXP_REFRESH_TOKEN = OBTAINED_SECRETS.BLUEXP_REFRESH_TOKEN,
      BLUEXP_AUTH_URL = sim.url .. "/bluexp/oauth/token",
      BLUEXP_ACCOUNT_ID = "account-sim00001", BLUEXP_AGENT_ID = "simAgent0001clients",
      REDPANDA_TOKEN = false, KEYCARD_TOKEN = false, BLUEXP_TOKEN = false,
    })
    local ok, r = pcall(H.run, { flags = { "--log-level", "debug", "--log-format", "json" },
                                 script = OBTAINING, env = env })
    local sim_result = sim.stop()
    assert(ok, r)
    local tokens, per = captured(env.CAPTURE)
    local file = H.read_file(reqlog)
    os.remove(env.CAPTURE)
    os.remove(env.REQUESTS)
    os.remove(reqlog)
    assert_obtaining_walked(r, per)
    assert.matches('"msg":"keycard: token renewed from KEYCARD_CLIENT_ID', r.stderr, 1, true)
    assert.matches("bluexp-auth", file, 1, true)
    for where, text in pairs({ stdout = r.stdout, stderr = r.stderr, ["--request-log"] = file,
                               ["the simulator's stderr"] = sim_result.stderr }) do
      assert_no_form(OBTAINED_SECRETS, where, text)
      assert_no_form(tokens, where, text)
      assert.is_nil(text:find("XYZZY", 1, true), "a piece of a wrong secret in " .. where)
    end
  end)
end)
