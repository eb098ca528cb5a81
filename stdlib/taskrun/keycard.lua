-- taskrun.keycard: Keycard catalog tasks (descriptor: bindings/keycard.c).
--
-- Quirks handled here: a completed task answers 303 See Other to the install. That is the
-- answer, not a detour: it is never followed; its Location gives install_url and install_id.
-- Every request carries a fresh X-Client-Request-ID, for tracing with Keycard.
local provider = require("taskrun.provider")
local core = require("taskrun._core")

local m = {}

local function required(v, what, name)
  if type(v) ~= "string" and math.type(v) ~= "integer" or v == "" then
    error(core.error("usage", string.format("keycard.%s needs %s (a non-empty string), got %s",
      what, name, provider.quote(v))), 3)
  end
  return v
end

function m.catalog_task(c, zone_id, task_id)
  required(zone_id, "catalog_task", "a zone id")
  required(task_id, "catalog_task", "a task id")
  local refresh = function() return m.catalog_task(c, zone_id, task_id) end
  local res = c:send("catalog_task", { zone = zone_id, id = task_id }, { task_id = task_id })
  if res.status == 303 then
    local location = res.headers.location or ""
    local ok, body = pcall(res.json, res)
    local raw = ok and provider.is_object(body) and body or {}
    local task = c:task_of({ id = raw.id or task_id, state = "completed", status = "succeeded",
      install_id = raw.install_id }, refresh, raw)
    task.install_url = location:match("^https?://") and location or (c.url .. location)
    task.install_id = location:match("/installs/([^/?#]+)") or task.install_id
    return task
  end
  return c:make_task(c:body(res, 2, "a catalog task object"), refresh)
end

-- The Task of a catalog task a POST or DELETE answered, polled by its id from then on.
local function started(c, res, zone_id, what)
  local body = c:body(res, 3, "a catalog task object")
  local id = body.id
  if (type(id) ~= "string" or id == "") and math.type(id) ~= "integer" then
    c:unexpected(res, id, "the catalog task's id", 'in "id"', 3, nil, "the " .. what
      .. " may have started: check the zone's installs before trying again")
  end
  return c:make_task(body, function() return m.catalog_task(c, zone_id, id) end)
end

-- spec: { package_id = "...", inputs = {...}, version = N }. Returns the install's Task.
function m.install(c, zone_id, spec)
  required(zone_id, "install", "a zone id")
  if type(spec) ~= "table" or type(spec.package_id) ~= "string" then
    error(core.error("usage", "keycard.install needs { package_id = ..., inputs = ..., version = ... }"), 2)
  end
  return started(c, c:send("install", { zone = zone_id }, { json = {
    package_id = spec.package_id, inputs = spec.inputs, version = spec.version } }), zone_id,
    "install")
end

function m.uninstall(c, zone_id, install_id)
  required(zone_id, "uninstall", "a zone id")
  required(install_id, "uninstall", "an install id")
  return started(c, c:send("uninstall", { zone = zone_id, id = install_id }), zone_id,
    "uninstall")
end

-- The install a completed task points at (the 303's target), as the vendor object.
function m.get_install(c, zone_id, install_id)
  required(zone_id, "get_install", "a zone id")
  required(install_id, "get_install", "an install id")
  return c:body(c:send("get_install", { zone = zone_id, id = install_id }), 2,
    "an install object")
end

local function decorate(c, headers)
  if c.options.request_id ~= false then headers["X-Client-Request-ID"] = core.uuid() end
end

return provider.module("keycard", m, decorate)
