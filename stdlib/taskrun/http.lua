-- taskrun.http: HTTP for runbooks, on the C binding taskrun._http (libcurl).
--
--   local res = http.request{ method = "POST", url = u, headers = {...}, query = {...},
--                             body = "text" | json = {...}, timeout = "30s", follow = false }
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
  value.message = string.format("%s %s answered %d with a body that is not JSON: %s",
    self.method, self.url, self.status, value.message)
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
  return setmetatable(core.request(opts), Response)
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
