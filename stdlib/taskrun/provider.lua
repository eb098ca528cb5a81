-- Clients for the vendor task APIs, built on the descriptors in bindings/*.c (taskrun._provider):
-- configuration from the environment, requests, vendor errors as taskrun errors, and the Task.
--
-- A provider module (taskrun.redpanda, ...) is `provider.module(name, methods)`: each method
-- takes a client first. The module exposes them twice: as functions on a default client made
-- from the environment on first use (`redpanda.mount_task(7)`), and as methods of explicit
-- clients (`redpanda.client{ url = ..., token = ... }:mount_task(7)`).
local http = require("taskrun.http")
local json = require("taskrun.json")
local core = require("taskrun._core")
local specs = require("taskrun._provider")

local provider = {}

local function fail(kind, message, fields, level)
  error(core.error(kind, message, fields), (level or 1) + 1)
end

-- ---- the Task ----------------------------------------------------------------------------

local Task = {}
Task.__index = Task
provider.Task = Task

local refreshers = setmetatable({}, { __mode = "k" })
local statuses = setmetatable({}, { __mode = "k" })   -- task -> HTTP status it came with

-- The HTTP status of the response a Task was read from (for the wait's response counts).
function provider.status_of(task)
  return statuses[task]
end

-- A fresh snapshot of the same task.
function Task:refresh()
  local refresh = refreshers[self]
  if not refresh then
    fail("usage", string.format("%s task %s cannot be refreshed", self.provider, tostring(self.id)), nil, 2)
  end
  return refresh()
end

-- Waits for the task: taskrun.wait(task, opts).
function Task:wait(opts)
  return require("taskrun.wait").wait(self, opts)
end

function Task:__tostring()
  return string.format("%s task %s (%s)", self.provider, tostring(self.id), tostring(self.state))
end

-- One warning per provider, task and state: an unknown state is news, not noise.
local warned = {}

local function warn_unknown(task)
  local key = task.provider .. "\0" .. tostring(task.id) .. "\0" .. tostring(task.state)
  if warned[key] then return end
  warned[key] = true
  core.log.warn("unknown task state: treated as not finished", {
    provider = task.provider, id = tostring(task.id), state = tostring(task.state) })
end

-- ---- clients -----------------------------------------------------------------------------

local Client = {}
Client.__index = Client

-- The client option each extra variable fills.
local option_of = { ASTRA_ACCOUNT_ID = "account", BLUEXP_ACCOUNT_ID = "account",
                    BLUEXP_AGENT_ID = "agent_id" }

local function setting(opts, key, env)
  local v = opts[key]
  if v == nil then v = os.getenv(env) end
  if v == "" then v = nil end
  return v
end

function provider.new_client(name, opts, level)
  local spec = specs[name]
  opts = opts or {}
  local url = setting(opts, "url", spec.url_env) or spec.default_url
  if not url then
    fail("usage", string.format("%s: %s is not set; set it to %s, or pass url = ... to %s.client{}",
      name, spec.url_env, spec.url_hint, name), { provider = name }, level)
  end
  local c = setmetatable({ spec = spec, name = name, url = url:gsub("/+$", ""),
    token = setting(opts, "token", spec.token_env), timeout = opts.timeout,
    headers = opts.headers, options = opts, seen = {} }, Client)
  if c.token then core.secret(c.token) end
  for _, env in ipairs(spec.required_env) do
    local key = option_of[env]
    c[key] = setting(opts, key, env)
    if not c[key] then
      fail("usage", string.format("%s: %s is not set; set it, or pass %s = ... to %s.client{}",
        name, env, key, name), { provider = name }, level)
    end
  end
  return c
end

-- Sends operation `op` of the descriptor; `vars` fill the path. Returns the response.
function Client:send(op, vars, opts)
  opts = opts or {}
  local all = { account = self.account }
  for k, v in pairs(vars or {}) do all[k] = v end
  local method, path = self.spec.route(op, all)
  local headers = { Accept = "application/json" }
  for k, v in pairs(self.headers or {}) do headers[k] = v end
  if self.token then headers.Authorization = "Bearer " .. self.token end
  if self.decorate then self:decorate(headers) end
  local res = http.request({ method = method, url = self.url .. path, headers = headers,
    query = opts.query, json = opts.json, timeout = self.timeout })
  self.last_status = res.status
  return res
end

-- A short, single-line excerpt of a body that is not the vendor's JSON (an HTML error page).
local function excerpt(body)
  local text = body:gsub("<[^>]*>", " "):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  if text == "" then return "(empty body)" end
  if #text > 160 then text = text:sub(1, 157) .. "..." end
  return text
end

local hints = {
  auth = "check %s and the token's permissions",
  not_found = "check the id and the account; the task may have been deleted",
  server = "the service failed; it may pass, so retry later",
  client = "check the request",
}

-- Raises the error a non-2xx response means, in the vendor's own words; `hint_text`
-- (optional) replaces the generic advice on what to do.
function Client:raise(res, fields, level, hint_text)
  local ok, body = pcall(json.decode, res.body)
  local words = ok and type(body) == "table" and self.spec.error_words(body) or excerpt(res.body)
  local kind, hint
  if res.status == 401 or res.status == 403 then
    kind, hint = "auth", string.format(hints.auth, self.spec.token_env)
  elseif res.status == 404 then
    kind, hint = "not_found", hints.not_found
  else
    kind, hint = "http", res.status >= 500 and hints.server or hints.client
  end
  local f = { provider = self.name, status = res.status, retry_after = res.retry_after }
  for k, v in pairs(fields or {}) do f[k] = v end
  fail(kind, string.format("%s: %s %s answered %d: %s; %s", self.name, res.method, res.url,
    res.status, words, hint_text or hint), f, (level or 1) + 1)
end

-- The JSON body of a 2xx response; kind "decode" when it is not JSON.
function Client:body(res, level)
  if res.status < 200 or res.status > 299 then self:raise(res, nil, (level or 1) + 1) end
  local ok, body = pcall(res.json, res)
  if not ok then
    body.provider = self.name
    error(body, (level or 1) + 1)
  end
  return body
end

-- A Task from a vendor object; `refresh` gives a fresh one.
function Client:make_task(obj, refresh)
  local task = setmetatable(self.spec.task(obj), Task)
  refreshers[task] = refresh
  statuses[task] = self.last_status
  if task.status == "unknown" then warn_unknown(task) end
  return task
end

-- ---- modules -----------------------------------------------------------------------------

-- `decorate(client, headers)`, when given, adds the provider's own headers to every request.
function provider.module(name, methods, decorate)
  local mod = {}
  local default

  local function make(opts, level)
    local c = provider.new_client(name, opts, level + 1)
    for k, f in pairs(methods) do c[k] = f end
    c.decorate = decorate
    return c
  end

  function mod.client(opts)
    return make(opts, 2)
  end

  for k, f in pairs(methods) do
    mod[k] = function(...)
      default = default or make(nil, 3)
      return f(default, ...)
    end
  end
  return mod
end

return provider
