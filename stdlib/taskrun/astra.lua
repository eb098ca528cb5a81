-- taskrun.astra: NetApp Astra Control tasks (descriptor: bindings/astra.c).
--
-- Quirks handled here: with `include`, items come back as positional arrays in the order of
-- the include list, turned back into fields here; `filter` is URL-encoded (%20, never '+');
-- lists page through metadata.continue -> ?continue=.
local provider = require("taskrun.provider")
local core = require("taskrun._core")

local m = {}

local function usage(msg)
  error(core.error("usage", "astra." .. msg), 3)
end

function m.task(c, task_id)
  if type(task_id) ~= "string" or task_id == "" then usage("task needs a task id (a string)") end
  local body = c:body(c:send("task", { id = task_id }), 2)
  return c:make_task(body, function() return m.task(c, task_id) end)
end

-- filter: "state eq 'running'", a list of such strings, or { field = value, ... } (each
-- becomes "field eq 'value'"; a value may not contain a quote, which Astra cannot escape).
local function filters(filter)
  if filter == nil then return nil end
  if type(filter) == "string" then return filter end
  if type(filter) ~= "table" then usage("tasks: filter must be a string or a table") end
  if #filter > 0 then return filter end
  local list = {}
  for field, value in pairs(filter) do
    value = tostring(value)
    if value:find("'", 1, true) then
      usage("tasks: a filter value cannot contain a single quote: " .. value)
    end
    list[#list + 1] = string.format("%s eq '%s'", field, value)
  end
  table.sort(list)
  return list
end

local function include_list(include)
  if include == nil then return nil end
  if type(include) == "string" then
    local names = {}
    for name in include:gmatch("[^,%s]+") do names[#names + 1] = name end
    return names
  end
  if type(include) ~= "table" then usage("tasks: include must be a list of field names") end
  return include
end

-- An item is an object, or (with include) an array of the included fields in order.
local function as_object(item, names)
  if not names or item.id ~= nil or #item == 0 then return item end
  local obj = {}
  for i, name in ipairs(names) do obj[name] = item[i] end
  return obj
end

-- opts: { filter =, include =, limit = }. Follows metadata.continue to the end.
function m.tasks(c, opts)
  opts = opts or {}
  local names = include_list(opts.include)
  local query = { filter = filters(opts.filter), limit = opts.limit,
                  include = names and table.concat(names, ",") or nil }
  local tasks, seen_tokens = {}, {}
  repeat
    local body = c:body(c:send("tasks", nil, { query = query }), 2)
    for _, item in ipairs(body.items or {}) do
      local obj = as_object(item, names)
      local id = obj.id
      tasks[#tasks + 1] = c:make_task(obj, id and function() return m.task(c, id) end or nil)
    end
    local token = type(body.metadata) == "table" and body.metadata.continue or nil
    if token == "" then token = nil end
    if token and seen_tokens[token] then
      error(core.error("http", "astra: the task list repeated its continue token " .. token
        .. "; stopped paging to avoid a loop", { provider = "astra" }), 2)
    end
    if token then seen_tokens[token] = true end
    query["continue"] = token
  until not token
  return tasks
end

-- Starts a backup of an application (POST .../appBackups) and returns the astra.backup Task
-- Astra created for it, found by its resourceID.
function m.backup(c, app_id, opts)
  if type(app_id) ~= "string" or app_id == "" then usage("backup needs an application id") end
  opts = opts or {}
  local res = c:send("backup", { app = app_id }, { json = {
    type = "application/astra-appBackup", version = "1.1",
    name = opts.name or ("taskrun-" .. core.uuid():sub(1, 8)) } })
  local body = c:body(res, 2)
  local backup_id = body.id or (res.headers.location or ""):match("([^/]+)$")
  local found = m.tasks(c, { filter = { resourceID = backup_id } })
  for _, task in ipairs(found) do
    if task.raw.name == "astra.backup" or not task.raw.parentTaskID then return task end
  end
  error(core.error("not_found", string.format("astra: backup %s started, but no task names it "
    .. "yet; list it with astra.tasks{ filter = { resourceID = %q } }", tostring(backup_id),
    tostring(backup_id)), { provider = "astra", backup_id = backup_id }), 2)
end

return provider.module("astra", m)
