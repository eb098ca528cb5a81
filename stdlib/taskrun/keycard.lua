-- taskrun.keycard: Keycard catalog tasks (descriptor: bindings/keycard.c).
--
-- Quirks handled here: a completed task answers 303 See Other to the install. That is the
-- answer, not a detour: it is never followed; its Location gives install_url and install_id.
-- Every request carries a fresh X-Client-Request-ID, for tracing with Keycard.
local provider = require("taskrun.provider")
local core = require("taskrun._core")
local json = require("taskrun.json")

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

-- The catalog task a POST or DELETE answered: its id, and its Task, polled by its id from then on.
local function started(c, res, zone_id, what)
  local body = c:body(res, 3, "a catalog task object")
  local id = body.id
  if (type(id) ~= "string" or id == "") and math.type(id) ~= "integer" then
    c:unexpected(res, id, "the catalog task's id", 'in "id"', 3, nil, "the " .. what
      .. " may have started: check the zone's installs before trying again")
  end
  return id, c:make_task(body, function() return m.catalog_task(c, zone_id, id) end)
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

-- ---- install and uninstall: durable calls (stdlib/taskrun/calls.lua) -----------------------
--
-- Keycard lists installs, never the catalog tasks that made them: a call whose answer was lost
-- is reconciled through the zone's installs, and an adopted call's Task follows its install
-- (GET .../installs/{id}). Its id, and the created id the journal keeps, is then
-- "install:<install id>" (or "uninstall:<install id>"), which `taskrun runs resolve --id` also
-- takes; any other id is a catalog task's.

-- The Task's state for an install's status, as each call sees it: an install that became
-- active (or has been deleted since) was installed; one being deleted is being uninstalled.
local STATES = {
  install = { pending = "running", active = "completed", deleting = "completed",
              deleted = "completed", failed = "failed" },
  uninstall = { deleting = "running", deleted = "completed", failed = "failed" },
}

-- How much earlier than the step's start an install's created_at may read and still be taken
-- for the step's: Keycard's clock and ours differ a little.
local CLOCK_SKEW = 60

-- Pages of a zone's install list read before taskrun calls it a loop.
local MAX_PAGES = 1000

-- The Task of call `what` made from install object `inst`.
local function from_install(c, what, inst, refresh)
  local status = type(inst.status) == "string" and inst.status or nil
  return c:task_of({ id = what .. ":" .. tostring(inst.id),
    state = STATES[what][status] or status, install_id = inst.id }, refresh, inst)
end

-- The Task of call `what` on install `install_id`, read now; an uninstall's install that is
-- gone was deleted.
local function through_install(c, what, zone_id, install_id)
  local function refresh() return through_install(c, what, zone_id, install_id) end
  local ok, inst = pcall(m.get_install, c, zone_id, install_id)
  if ok then return from_install(c, what, inst, refresh) end
  if what == "uninstall" and type(inst) == "table" and inst.kind == "not_found" then
    return c:task_of({ id = what .. ":" .. install_id, state = "completed", status = "succeeded",
      install_id = install_id }, refresh)
  end
  error(inst, 0)
end

-- The Task of created id `id` of call `what`: "install:<id>" follows an install, anything else
-- is a catalog task.
local function call_task(c, what, zone_id, id)
  local prefix = what .. ":"
  if type(id) == "string" and id:sub(1, #prefix) == prefix and #id > #prefix then
    return through_install(c, what, zone_id, id:sub(#prefix + 1))
  end
  return m.catalog_task(c, zone_id, id)
end

-- Every install of the zone, oldest first: the list's pages followed to the end.
local function zone_installs(c, zone_id)
  local all, seen, after = {}, {}, nil
  for _ = 1, MAX_PAGES do
    local res = c:send("installs", { zone = zone_id }, { query = { limit = 100, after = after } })
    local body = c:body(res, 2, "an install list object")
    for i, item in ipairs(c:list(res, body.items, "a list of installs", 'in "items"', 2)) do
      all[#all + 1] = c:object(res, item, "an install object",
        string.format('as item %d of "items"', i), 2)
    end
    local pagination = provider.is_object(body.pagination) and body.pagination or {}
    local cursor = pagination.after_cursor
    if cursor == nil or cursor == json.null or cursor == "" then return all end
    if type(cursor) ~= "string" then
      c:unexpected(res, cursor, "a string", 'in "pagination.after_cursor"', 2)
    end
    if seen[cursor] then
      error(core.error("http", "keycard: the install list repeated its cursor "
        .. provider.quote(cursor) .. "; stopped paging to avoid a loop: retry later",
        { provider = "keycard", status = res.status }), 2)
    end
    seen[cursor], after = true, cursor
  end
  error(core.error("http", string.format("keycard: the install list of zone %s had more than %d "
    .. "pages (%d installs so far); stopped paging", provider.quote(zone_id), MAX_PAGES, #all),
    { provider = "keycard" }), 2)
end

-- keycard.install(zone_id, { package_id =, inputs =, version = }): POST .../installs; returns
-- the install's Task. In doubt, every install of that package (and version, when given) in the
-- zone created since the step began is a candidate; the list is authoritative.
local install = {}

function install.check(c, zone_id, spec)
  required(zone_id, "install", "a zone id")
  if type(spec) ~= "table" or type(spec.package_id) ~= "string" then
    error(core.error("usage",
      "keycard.install needs { package_id = ..., inputs = ..., version = ... }"), 4)
  end
end

function install.send(c, zone_id, spec)
  return started(c, c:send("install", { zone = zone_id }, { json = {
    package_id = spec.package_id, inputs = spec.inputs, version = spec.version } }), zone_id,
    "install")
end

function install.task(c, id, zone_id)
  return call_task(c, "install", zone_id, id)
end

function install.reconcile(c, since, zone_id, spec)
  local found = {}
  for _, inst in ipairs(zone_installs(c, zone_id)) do
    local created = provider.epoch(inst.created_at)
    if type(inst.id) == "string" and inst.id ~= "" and inst.package_id == spec.package_id
        and created and created >= since - CLOCK_SKEW
        and (spec.version == nil or inst.package_version == nil
             or inst.package_version == spec.version) then
      local id = inst.id
      local task = from_install(c, "install", inst,
        function() return through_install(c, "install", zone_id, id) end)
      found[#found + 1] = { id = task.id, task = task, words = string.format("install %s (%s, "
        .. "created %s)", provider.quote(id), tostring(inst.status), tostring(inst.created_at)) }
    end
  end
  return found, true
end

-- keycard.uninstall(zone_id, install_id): DELETE .../installs/{id}; returns its Task. In doubt,
-- the install says: deleting or deleted (or gone: 404), the DELETE took, adopted; active or
-- pending, it did not, sent again; failed (or unknown), no way to tell.
local uninstall = {}

function uninstall.check(c, zone_id, install_id)
  required(zone_id, "uninstall", "a zone id")
  required(install_id, "uninstall", "an install id")
end

function uninstall.send(c, zone_id, install_id)
  return started(c, c:send("uninstall", { zone = zone_id, id = install_id }), zone_id,
    "uninstall")
end

function uninstall.task(c, id, zone_id)
  return call_task(c, "uninstall", zone_id, id)
end

function uninstall.reconcile(c, since, zone_id, install_id)
  local task = through_install(c, "uninstall", zone_id, tostring(install_id))
  local status = task.raw.status
  if status == nil or status == "deleting" or status == "deleted" then
    return { { id = task.id, task = task, words = string.format("install %s (%s)",
      provider.quote(install_id), status or "gone") } }, true
  end
  return {}, status == "active" or status == "pending"
end

return provider.module("keycard", m, decorate,
  { calls = { install = install, uninstall = uninstall } })
