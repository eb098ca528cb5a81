-- taskrun.http: HTTP for runbooks, on the C binding taskrun._http (libcurl).
--
--   local res = http.request{ method = "POST", url = u, headers = {...}, query = {...},
--                             body = "text" | json = {...}, timeout = "30s", follow = false,
--                             max_inflight = 4, rate = "20/s", max_retry_after = "1m" }
--   http.get(url, opts), http.post(url, opts), http.put, http.patch, http.delete, http.head
--   res.status, res.headers (lower-case names), res.body, res:json(), res.retry_after
local core = require("taskrun._http")
local json = require("taskrun.json")
local errors = require("taskrun._core")

local http = {}

local Response = {}
Response.__index = Response

-- The body decoded as JSON; a body that is not JSON raises kind "decode" naming the request.
function Response:json()
  local ok, value = pcall(json.decode, self.body)
  if ok then return value end
  local url = self.url   -- as long as the id in it: quoted cut short
  if #url > 200 then url = url:sub(1, 197) .. "..." end
  value.message = string.format("%s %s answered %d with a body that is not JSON: %s",
    self.method, url, self.status, value.message)
  value.status = self.status
  error(value, 2)
end

local function has_header(headers, name)
  for k in pairs(headers) do
    if type(k) == "string" and k:lower() == name then return true end
  end
  return false
end

local function usage(msg)
  return errors.error("usage", msg)
end

-- ---- the deadline of the wait a request is made for ----------------------------------------

-- coroutine -> the deadline (taskrun.now() seconds) of the wait polling in it. taskrun.wait
-- sets it around each poll, so every request a poll makes, a custom fetch function's too,
-- ends by the wait's deadline instead of running its own 60 s after it.
local deadlines = setmetatable({}, { __mode = "k" })
-- coroutine -> that wait's max_retry_after: the longest a host's Retry-After (another wait's
-- 429) may hold its polls back, as it is the longest its own may.
local holds = setmetatable({}, { __mode = "k" })

-- Less time left than this and a request is not sent: libcurl reads a 0 ms timeout as none.
http.MIN_TIMEOUT = 0.001

-- Caps every request the running coroutine makes from now: returns what http.pop_deadline
-- takes to undo it (the caller must, whatever happens: a wait's poll runs its fetch in pcall).
-- `max_retry_after` (optional, seconds) caps how long a host's Retry-After holds them back.
-- Nested caps keep the earliest deadline and the smallest max_retry_after.
function http.push_deadline(deadline, max_retry_after)
  local co = coroutine.running()
  local outer, outer_hold = deadlines[co], holds[co]
  deadlines[co] = outer and math.min(outer, deadline) or deadline
  if max_retry_after then
    holds[co] = outer_hold and math.min(outer_hold, max_retry_after) or max_retry_after
  end
  return co, outer, outer_hold
end

function http.pop_deadline(co, outer, outer_hold)
  deadlines[co], holds[co] = outer, outer_hold
end

-- The same until the returned value is closed (a to-be-closed variable):
-- `local scope <close> = http.deadline_scope(d, max_retry_after)`. One metatable for every
-- scope: a scope is one small table, not a table, a metatable and a closure.
local Scope = { __close = function(scope)
  http.pop_deadline(scope.co, scope.outer, scope.outer_hold)
end }

function http.deadline_scope(deadline, max_retry_after)
  local co, outer, outer_hold = http.push_deadline(deadline, max_retry_after)
  return setmetatable({ co = co, outer = outer, outer_hold = outer_hold }, Scope)
end

-- The deadline of the wait the running coroutine polls for, or nil outside a wait.
function http.current_deadline()
  return deadlines[coroutine.running()]
end

-- The timeout and max_retry_after a request of the current coroutine's wait is made with (see
-- core.request: nil leaves opts' own): its timeout cut to the time left before the wait's
-- deadline, and the wait's max_retry_after unless opts gives one. Raises a transport error with
-- cause "timeout" when no time is left: the wait then ends with its own timeout error, as when
-- a request was cut short. Two values, not a view of opts: no table is made per request.
local function capped(opts)
  local co = coroutine.running()
  local deadline = deadlines[co]
  if not deadline then return nil, nil end
  local left = deadline - errors.now()
  if left < http.MIN_TIMEOUT then
    error(errors.error("transport", string.format("%s request not sent: the wait's deadline "
      .. "has passed", type(opts.method) == "string" and opts.method:upper() or "GET"),
      { cause = "timeout", sent = false }), 3)
  end
  local timeout = opts.timeout   -- read once: the C side is given the value read here
  if timeout ~= nil then
    local t = errors.duration(timeout)
    -- 0 stays 0 for the C side to refuse; under 1 ms is 1 ms (libcurl counts in ms).
    if t <= 0 then return timeout, holds[co] end
    left = math.min(math.max(t, http.MIN_TIMEOUT), left)
  end
  return left, holds[co]
end

function http.request(opts)
  if type(opts) ~= "table" then error(usage("http.request takes a table of options"), 2) end
  if opts.json ~= nil then
    if opts.body ~= nil then error(usage("http.request: give body or json, not both"), 2) end
    local copy = {}
    for k, v in pairs(opts) do copy[k] = v end
    copy.headers = {}
    for k, v in pairs(opts.headers or {}) do copy.headers[k] = v end
    copy.body = json.encode(opts.json)
    copy.json = nil
    if not has_header(copy.headers, "content-type") then
      copy.headers["Content-Type"] = "application/json"
    end
    opts = copy
  end
  return setmetatable(core.request(opts, capped(opts)), Response)
end

for _, method in ipairs({ "get", "post", "put", "patch", "delete", "head" }) do
  http[method] = function(url, opts)
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    o.method, o.url = method:upper(), url
    return http.request(o)
  end
end

return http
