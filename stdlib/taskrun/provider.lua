-- Clients for the vendor task APIs, built on the descriptors in bindings/*.c (taskrun._provider,
-- one per line of bindings/providers.def): configuration from the environment, requests,
-- vendor errors as taskrun errors, and the Task.
--
-- A provider module (taskrun.redpanda, ...) is `provider.module(name, methods)`: each method
-- takes a client first. The module exposes them twice: as functions on a default client made
-- from the environment on first use (`redpanda.mount_task(7)`), and as methods of explicit
-- clients (`redpanda.client{ url = ..., token = ... }:mount_task(7)`).
local http = require("taskrun.http")
local http_core = require("taskrun._http")
local json = require("taskrun.json")
local core = require("taskrun._core")
local specs = require("taskrun._provider")
local auth = require("taskrun.auth")

local provider = {}

local function fail(kind, message, fields, level)
  error(core.error(kind, message, fields), (level or 1) + 1)
end

-- ---- words ---------------------------------------------------------------------------------

-- How much of a user's or vendor's value a message quotes: a 1 MB id must not make a 3 MB
-- message, nor a vendor's state a line the terminal scrolls for.
local QUOTE_MAX = 120

-- `s` cut to at most `max` bytes (QUOTE_MAX), never inside a UTF-8 character, "..." marking
-- the cut. Constant work whatever the length.
local function clip(s, max)
  max = max or QUOTE_MAX
  if #s <= max then return s end
  local cut = max - 3
  for _ = 1, 3 do   -- a continuation byte after the cut: back up to its character's start
    local b = s:byte(cut + 1)
    if cut == 0 or b < 0x80 or b >= 0xC0 then break end
    cut = cut - 1
  end
  return s:sub(1, cut) .. "..."
end
provider.clip = clip

-- A value as a message quotes it: a string in double quotes (clipped, control characters
-- escaped), a number as it is, anything else by its type, never calling its __tostring.
function provider.quote(v, max)
  local t = type(v)
  if t == "string" then
    return '"' .. clip(v, max):gsub('[%c"\\]', function(c)
      return string.format("\\%03d", c:byte())
    end) .. '"'
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  end
  return "a " .. t
end

-- Seconds since the epoch of an RFC 3339 time ("2026-11-22T08:44:34.327Z", "...+02:00"), or
-- nil when `text` is not one: when a vendor says it created something (reconciling a call).
function provider.epoch(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s, frac, zone = text:match(
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  local offset = 0
  if zone ~= "Z" and zone ~= "z" then
    local sign, oh, om = zone:match("^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- Days since 1970-01-01 of a proleptic Gregorian date (os.time would read it as local time).
  if mo <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (mo > 2 and mo - 3 or mo + 9) + 2) // 5 + d - 1
  local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
    + (#frac > 1 and tonumber("0" .. frac) or 0) - offset
end

-- ---- body shapes -----------------------------------------------------------------------------

-- cjson reads `[]` and `{}` both as an empty table; a non-empty array has [1], which no
-- decoded object has (object keys are strings). json.is_array also knows a marked array.
local function is_array(v)
  return type(v) == "table" and (rawget(v, 1) ~= nil or json.is_array(v))
end

-- A decoded JSON object with at least one field: what every vendor task or envelope is.
local function is_object(v)
  return type(v) == "table" and not is_array(v) and next(v) ~= nil
end
provider.is_object = is_object

-- A decoded JSON array, possibly empty (an empty object reads the same).
local function is_list(v)
  return type(v) == "table" and (is_array(v) or next(v) == nil)
end
provider.is_list = is_list

-- What a decoded value is, for a message: "null", "a JSON array", ...
local function shape(v)
  if v == json.null then return "null" end
  local t = type(v)
  if t == "table" then
    if is_array(v) then return "a JSON array" end
    if next(v) == nil then return "an empty JSON object or array" end
    return "a JSON object"
  elseif t == "string" then
    return "a JSON string"
  elseif t == "number" then
    return "a JSON number"
  elseif t == "boolean" then
    return "JSON " .. tostring(v)
  elseif t == "nil" then
    return "nothing"
  end
  return "a " .. t
end
provider.shape = shape

-- ---- the Task ----------------------------------------------------------------------------

local Task = {}
provider.Task = Task

local refreshers = setmetatable({}, { __mode = "k" })
local statuses = setmetatable({}, { __mode = "k" })   -- task -> HTTP status it came with

-- A Task read from a small body keeps that body's text, not its decoded vendor object, until
-- `raw` is first read: one string, where the object is a tree of tables and strings that the
-- collector marks on every cycle for as long as the Task lives, and a wait holds its last Task
-- between polls. task -> the text, when raw is the whole body, or { text, key, index } for its
-- [key] or its [key][index] (see `locate`); reading raw decodes it, once, and keeps it.
local sources = setmetatable({}, { __mode = "k" })

-- Longer bodies are not kept as text: a Task from one is a small part of a long list.
local RAW_TEXT_MAX = 4096

local function raw_of(task)
  local source = sources[task]
  if not source then return nil end
  sources[task] = nil
  local raw
  if type(source) == "string" then
    raw = json.decode(source)
  else
    raw = json.decode(source[1])[source[2]]
    if source[3] then raw = raw[source[3]] end
  end
  rawset(task, "raw", raw)
  return raw
end

function Task.__index(task, key)
  if key == "raw" then return raw_of(task) end
  return Task[key]
end

-- A raw set before it was read replaces the kept text.
function Task.__newindex(task, key, value)
  if key == "raw" then sources[task] = nil end
  rawset(task, key, value)
end

-- pairs(task), and so json.encode(task), lists raw whether it was read or not; next and rawget
-- see it once read.
function Task.__pairs(task)
  if sources[task] then raw_of(task) end
  return next, task, nil
end

-- The HTTP status of the response a Task was read from (for the wait's response counts).
function provider.status_of(task)
  return statuses[task]
end

-- What the journal keeps of a Task (a wait's end, a call's answer): provider, id, state and
-- status as text; nil for what is not a table.
function provider.task_state(t)
  if type(t) ~= "table" then return nil end
  return { provider = t.provider, id = t.id and tostring(t.id), state = t.state and
           tostring(t.state), status = t.status and tostring(t.status) }
end

-- A fresh snapshot of the same task.
function Task:refresh()
  local refresh = refreshers[self]
  if not refresh then
    fail("usage", string.format("%s task %s cannot be refreshed (it came without an id)",
      self.provider, provider.quote(self.id)),
      { provider = self.provider, task = self, task_id = self.id }, 2)
  end
  return refresh()
end

-- Waits for the task: taskrun.wait(task, opts).
function Task:wait(opts)
  return require("taskrun.wait").wait(self, opts)
end

function Task:__tostring()
  return string.format("%s task %s (%s)", self.provider, clip(tostring(self.id)),
    clip(tostring(self.state)))
end

-- One warning per provider, task and state: an unknown state is news, not noise.
local warned = {}

local function warn_unknown(task)
  local key = task.provider .. "\0" .. tostring(task.id) .. "\0" .. tostring(task.state)
  if warned[key] then return end
  warned[key] = true
  core.log.warn("unknown task state: treated as not finished", {
    provider = task.provider, task_id = type(task.id) == "string" and clip(task.id) or task.id,
    state = clip(tostring(task.state)) })
end

-- ---- clients -----------------------------------------------------------------------------

local Client = {}
Client.__index = Client

local function setting(opts, key, env)
  local v = opts[key]
  if v == nil and env then v = os.getenv(env) end
  if v == "" then v = nil end
  return v
end

-- Every setting problem of a client of provider `name` made with `opts` (nil: the default
-- client, from the environment alone), all at once: a list of sentences, each naming a
-- variable that is missing and what would do instead. Empty when the client can be made.
-- The settings pre-check calls it before a runbook runs.
function provider.problems(name, opts)
  local spec = specs[name]
  opts = opts or {}
  local list = {}
  if not (setting(opts, "url", spec.url_env) or spec.default_url) then
    list[#list + 1] = string.format(
      "%s is not set; set it to %s, or pass url = ... to %s.client{}", spec.url_env,
      spec.url_hint, name)
  end
  for _, s in ipairs(spec.settings) do
    if not setting(opts, s.option, s.env) then
      list[#list + 1] = string.format("%s is not set; set it, or pass %s = ... to %s.client{}",
        s.env, s.option, name)
    end
  end
  local how, missing = auth.choose(name, spec.credentials, opts)
  if not how then
    for _, m in ipairs(missing) do list[#list + 1] = m end
  end
  return list
end

-- The usage error for `problems` (non-empty): one message naming every one.
local function settings_error(name, problems, level)
  local text = #problems == 1 and problems[1]
    or string.format("%d settings are missing: %s", #problems, table.concat(problems, "; and "))
  fail("usage", string.format("%s: %s", name, text), { provider = name, problems = problems },
    (level or 1) + 1)
end

-- The client's own bounds on its requests, checked when it is made: max_inflight (a whole
-- number from 1: it lowers TASKRUN_MAX_INFLIGHT for its requests) and rate ("20/s").
local function check_limits(name, opts, level)
  local n = opts.max_inflight
  if n ~= nil and (math.type(n) ~= "integer" or n < 1) then
    fail("usage", string.format("%s.client: bad max_inflight %s: give the most requests this "
      .. "client may have in flight to its host at once, a whole number from 1", name,
      provider.quote(n)), { provider = name }, level + 1)
  end
  local rate = opts.rate
  if rate ~= nil then
    local per, why = nil, 'give a string, like "20/s"'
    if type(rate) == "string" then per, why = http_core.parse_rate(rate) end
    if not per then
      fail("usage", string.format("%s.client: bad rate %s: %s", name, provider.quote(rate), why),
        { provider = name }, level + 1)
    end
  end
end

function provider.new_client(name, opts, level)
  local spec = specs[name]
  opts = opts or {}
  local problems = provider.problems(name, opts)
  if #problems > 0 then settings_error(name, problems, (level or 1) + 1) end
  check_limits(name, opts, (level or 1) + 1)
  local url = setting(opts, "url", spec.url_env) or spec.default_url
  local c = setmetatable({ spec = spec, name = name, url = url:gsub("/+$", ""),
    timeout = opts.timeout, headers = opts.headers, max_inflight = opts.max_inflight,
    rate = opts.rate, options = opts, seen = {} }, Client)
  for _, s in ipairs(spec.settings) do c[s.option] = setting(opts, s.option, s.env) end
  -- What fills a path's variables when the request's own do not: {account}.
  c.route_defaults = { account = c.account }
  -- Where its token comes from; the token itself is had on the first request (auth.lua).
  c.auth = auth.source(c)
  return c
end

-- What a response was about, for its errors: res -> { task_id = the vendor's id }.
local contexts = setmetatable({}, { __mode = "k" })

-- An empty table that is never written: the default of an absent argument, made once.
local NONE = setmetatable({}, { __newindex = function() error("provider: NONE is read-only", 2) end })

-- The headers of a request made with `token`: one table per client and token (a real token is
-- a kilobyte: its "Bearer " text is made once per token), the provider's own (decorate) set on
-- it on each request, since one may be fresh per request (Keycard's request id). A client with
-- `headers` of its own gets a new table per request instead, with those headers as they are
-- then (one taken out since is not sent). Lent to the request, which reads it before it yields
-- (bindings/http.c).
local function headers_for(c, token)
  if c.request_token ~= token then
    c.request_token, c.bearer, c.request_headers = token, "Bearer " .. token, nil
  end
  local h = c.request_headers
  if not h or c.headers then
    h = { Accept = "application/json" }
    for k, v in pairs(c.headers or NONE) do h[k] = v end
    h.Authorization = c.bearer
    c.request_headers = h
  end
  if c.decorate then c:decorate(h) end
  return h
end

-- --metrics-file's taskrun_requests_total: how a request to a vendor ended. Only under
-- --metrics-file does a request pay for the pcall this takes.
local counting, count = core.counting, core.count

local function outcome_of(status)
  return status < 400 and "ok" or status < 500 and "client_error" or "server_error"
end

-- http.request(opts), counted for `name` ("redpanda"...) when counting.
function provider.request(name, opts)
  if not counting then return http.request(opts) end
  local ok, res = pcall(http.request, opts)
  -- A usage error (a bad header) sent nothing: nothing to count.
  if ok or (type(res) == "table" and res.kind == "transport") then
    count("requests", name, ok and outcome_of(res.status) or "transport_error")
  end
  if not ok then error(res, 0) end
  return res
end
local request = provider.request

-- Sends operation `op` of the descriptor; `vars` fill the path (the client's account is the
-- default of {account}). Returns the response.
-- opts.task_id: the vendor task the request is about, named by every error about its answer.
--
-- A 401 on a request made with a renewable token (obtained, from a file or a function) renews
-- the token once and makes the request once more, a POST too: a 401 means the vendor did not
-- act on it. A second 401 is the answer (the caller raises kind auth).
function Client:send(op, vars, opts)
  opts = opts or NONE
  local method, url = self.spec.route(op, vars, self.route_defaults, self.url)
  -- One request table per client, filled again for each request: taskrun.http reads it whole
  -- before the request yields, so the next request (of any coroutine) may refill it.
  local req = self.request_table
  if not req then
    req = {}
    self.request_table = req
  end
  local res, token
  for attempt = 1, 2 do
    token = self.auth:get()
    req.method, req.url, req.headers = method, url, headers_for(self, token)
    req.query, req.json, req.timeout = opts.query, opts.json, self.timeout
    req.max_inflight, req.rate = self.max_inflight, self.rate
    res = request(self.name, req)
    if res.status ~= 401 or attempt == 2 or not self.auth:refused(token) then break end
  end
  -- The context of an answer is the caller's opts itself (only task_id is read from it), but
  -- for a 401, which also says whether the token was a renewed one.
  if res.status == 401 then
    contexts[res] = { task_id = opts.task_id, renewed = self.auth.renewable }
  elseif opts.task_id ~= nil then
    contexts[res] = opts
  end
  self.last_status = res.status
  return res
end

-- The fields every error about `res` carries: provider, status, task_id, then `extra`.
function Client:fields(res, extra)
  local f = { provider = self.name, status = res.status, retry_after = res.retry_after,
              task_id = (contexts[res] or {}).task_id }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end

-- "GET https://.../jobs/7", the URL clipped: an id can be as long as a body.
local function request_words(res)
  return string.format("%s %s", res.method, clip(res.url, 200))
end

-- How much of an error body is decoded for the vendor's words: an envelope is small; past
-- this it is not one (an HTML page, garbage), and only an excerpt of its start is shown. Keeps
-- the work on a 64 MiB error body bounded (the words of an envelope with many invalidParams
-- take time quadratic in their number).
local ERROR_BODY_MAX = 65536

-- `s` without <...> tags, in one pass: each find moves forward, so the work is linear (the
-- pattern "<[^>]*>" retried at every '<' of "<<<<..." was quadratic).
local function strip_tags(s)
  local out, pos = {}, 1
  while true do
    local lt = s:find("<", pos, true)
    local gt = lt and s:find(">", lt + 1, true)
    if not gt then
      out[#out + 1] = s:sub(pos)
      return table.concat(out)
    end
    out[#out + 1] = s:sub(pos, lt - 1)
    out[#out + 1] = " "
    pos = gt + 1
  end
end

-- A short, single-line excerpt of a body that is not the vendor's JSON (an HTML error page),
-- from its first bytes only.
local function excerpt(body)
  local text = strip_tags(body:sub(1, 4096)):gsub("[%s%c]+", " "):gsub("^ ", ""):gsub(" $", "")
  if text == "" then return #body > 0 and "(no text in the body)" or "(empty body)" end
  return clip(text, 160)
end
provider.excerpt = excerpt

local hints = {
  not_found = "check the id and the account; the task may have been deleted",
  server = "the service failed; it may pass, so retry later",
  client = "check the request",
}

-- Raises the error a non-2xx response means, in the vendor's own words; `hint_text`
-- (optional) replaces the generic advice on what to do.
function Client:raise(res, fields, level, hint_text)
  local words
  if #res.body <= ERROR_BODY_MAX then
    local ok, body = pcall(json.decode, res.body)
    words = ok and type(body) == "table" and self.spec.error_words(body)
  end
  words = type(words) == "string" and clip(words, 500) or excerpt(res.body)
  local kind, hint
  if res.status == 401 or res.status == 403 then
    kind, hint = "auth", self.auth:hint()
    if res.status == 401 and (contexts[res] or {}).renewed then
      hint = "refused again with a renewed token; " .. hint
    end
  elseif res.status == 404 then
    kind, hint = "not_found", hints.not_found
  else
    kind, hint = "http", res.status >= 500 and hints.server or hints.client
  end
  fail(kind, string.format("%s: %s answered %d: %s; %s", self.name, request_words(res),
    res.status, words, hint_text or hint), self:fields(res, fields), (level or 1) + 1)
end

-- Raises kind "decode": `res` answered `value` (found `where`, e.g. 'in "items"') where `what`
-- was expected; `advice` (optional) says what to do.
function Client:unexpected(res, value, what, where, level, extra, advice)
  fail("decode", string.format("%s: %s answered %d with %s%s where %s was expected%s",
    self.name, request_words(res), res.status, shape(value), where and (" " .. where) or "",
    what, advice and ("; " .. advice) or ""), self:fields(res, extra), (level or 1) + 1)
end

-- The JSON body of a 2xx response; kind "decode" when it is not JSON, or, when `what` is
-- given ("a job object"), when it is not a JSON object with fields.
function Client:body(res, level, what)
  level = (level or 1) + 1
  if res.status < 200 or res.status > 299 then self:raise(res, nil, level) end
  local ok, body = pcall(res.json, res)
  if not ok then
    if type(body) == "table" then
      for k, v in pairs(self:fields(res)) do
        if body[k] == nil then body[k] = v end
      end
    end
    error(body, level)
  end
  if what and not is_object(body) then self:unexpected(res, body, what, nil, level) end
  -- The last small body this client decoded, with its text, for the Task made from it (see
  -- `sources`). Another request of the client, in another task, may replace it first: a
  -- Task is looked for in it by identity, and keeps its object when not found.
  if type(body) == "table" and #res.body <= RAW_TEXT_MAX then
    self.doc, self.doc_text = body, res.body
  else
    self.doc, self.doc_text = nil, nil
  end
  return body
end

-- `value` (found in res's body, `where`) when it is an object with fields; else kind decode.
function Client:object(res, value, what, where, level)
  if not is_object(value) then self:unexpected(res, value, what, where, (level or 1) + 1) end
  return value
end

-- `value` as a list: nil is empty (vendors omit empty lists); else it must be an array.
function Client:list(res, value, what, where, level)
  if value == nil then return {} end
  if not is_list(value) then self:unexpected(res, value, what, where, (level or 1) + 1) end
  return value
end

-- Where `obj` is in `doc`, the body Client:body decoded last: true for doc itself, else the key
-- with doc[key] == obj, or that key and 1 for doc[key][1] == obj (BlueXP's list of one job);
-- nil when it is not there. Looks at 8 of doc's keys at most: an envelope has few.
local function locate(doc, obj)
  if type(obj) ~= "table" then return nil end
  if obj == doc then return true end
  local n = 0
  for key, v in next, doc do
    if v == obj then return key end
    if type(v) == "table" and rawget(v, 1) == obj then return key, 1 end
    n = n + 1
    if n == 8 then return nil end
  end
  return nil
end

local function adopt(c, task, refresh)
  setmetatable(task, Task)
  refreshers[task] = refresh
  statuses[task] = c.last_status
  local doc = c.doc
  if doc then
    local key, index = locate(doc, rawget(task, "raw"))
    if key ~= nil then
      rawset(task, "raw", nil)
      sources[task] = key == true and c.doc_text or { c.doc_text, key, index }
    end
  end
  if task.status == "unknown" then warn_unknown(task) end
  return task
end

-- A Task from a vendor object; `refresh` gives a fresh one. The modules check the object
-- against its request first; this is the last line, for a caller that did not. The object must
-- be as Client:body decoded it: from a small body, the Task keeps the body's text and decodes
-- raw from it again (`sources`), so a change made to the object here would be lost.
function Client:make_task(obj, refresh)
  if not is_object(obj) then
    fail("decode", string.format("%s: %s where a task object was expected", self.name,
      shape(obj)), { provider = self.name, status = self.last_status }, 2)
  end
  return adopt(self, self.spec.task(obj), refresh)
end

-- A Task from normalized fields, for what a vendor says without a task object:
-- { id =, state =, status =, message =, progress =, install_id = }; `status` comes from the
-- state when not given. `raw`: the vendor object there is, if any.
function Client:task_of(fields, refresh, raw)
  return adopt(self, self.spec.task_of(fields, raw), refresh)
end

-- ---- modules -----------------------------------------------------------------------------

-- The wait schedule each provider declares (provider.module's traits.wait): name -> options.
local wait_defaults = {}

-- The default wait schedule of provider `name` ({ interval =, max_interval =, backoff = },
-- any of them), or nil: taskrun.wait uses it for that provider's Tasks when the runbook sets
-- none of those options.
function provider.wait_defaults(name)
  return wait_defaults[name]
end

-- `decorate(client, headers)`, when given, adds the provider's own headers to every request.
-- `traits` (optional): { wait = { interval =, max_interval =, backoff = } }, the provider's own
-- default wait schedule (how fast its tasks change, or vanish once done), also readable as
-- mod.wait_defaults; { calls = { method = descriptor } }, the methods that start or change
-- something, each a step of its own in a journaled run (stdlib/taskrun/calls.lua says what a
-- descriptor holds).
function provider.module(name, methods, decorate, traits)
  local mod = {}
  local default
  if traits and traits.calls then
    local calls = require("taskrun.calls")
    for method, desc in pairs(traits.calls) do
      methods[method] = calls.method(name, method, desc)
    end
  end
  if traits and traits.wait then
    wait_defaults[name] = traits.wait
    mod.wait_defaults = {}   -- a copy: changing it changes nothing
    for k, v in pairs(traits.wait) do mod.wait_defaults[k] = v end
  end

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
