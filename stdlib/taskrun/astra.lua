-- taskrun.astra: NetApp Astra Control tasks (descriptor: bindings/astra.c).
--
-- Quirks handled here: with `include`, items come back as positional arrays in the order of
-- the include list, turned back into fields here; `filter` is URL-encoded (%20, never '+');
-- lists page through metadata.continue -> ?continue=.
local provider = require("taskrun.provider")
local core = require("taskrun._core")
local json = require("taskrun.json")

local m = {}

local function usage(msg)
  error(core.error("usage", "astra." .. msg), 3)
end

function m.task(c, task_id)
  if type(task_id) ~= "string" or task_id == "" then
    usage("task needs a task id (a non-empty string), got " .. provider.quote(task_id))
  end
  local body = c:body(c:send("task", { id = task_id }, { task_id = task_id }), 2,
    "a task object")
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
      usage("tasks: a filter value cannot contain a single quote: " .. provider.quote(value))
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
local function as_object(c, res, item, names, i)
  local where = string.format('as item %d of "items"', i)
  if names and provider.is_list(item) and next(item) ~= nil then
    local obj = {}
    for j, name in ipairs(names) do obj[name] = item[j] end
    return obj
  end
  return c:object(res, item, names and "an array of the included fields or a task object"
    or "a task object", where, 3)
end

-- Pages a list may have before taskrun calls it a loop: a server whose continue token never
-- ends would otherwise be asked for ever (documented in the README).
local MAX_PAGES = 1000

-- Reads list `op` (vars fill its path) page by page, following metadata.continue to the end,
-- at most MAX_PAGES pages; calls each(res, body) for every page. `noun`: "task", "backup".
local function pages(c, op, vars, query, noun, each)
  local seen_tokens, count = {}, 0
  repeat
    if count == MAX_PAGES then
      error(core.error("http", string.format("astra: the %s list had more than %d pages "
        .. "(%s so far) and its continue token had not ended; stopped paging: narrow "
        .. "the list with filter, or ask for larger pages with limit", noun, MAX_PAGES,
        each()), { provider = "astra", pages = count }), 3)
    end
    count = count + 1
    local res = c:send(op, vars, { query = query })
    local body = c:body(res, 3, string.format("a %s list object", noun))
    each(res, body)
    local token
    if body.metadata ~= nil then
      local meta = c:object(res, body.metadata, "a metadata object", 'in "metadata"', 3)
      token = meta.continue
      if token == json.null or token == "" then token = nil end
      if token ~= nil and type(token) ~= "string" then
        c:unexpected(res, token, "a string", 'in "metadata.continue"', 3)
      end
    end
    if token and seen_tokens[token] then
      error(core.error("http", string.format("astra: the %s list repeated its continue token "
        .. "%s; stopped paging to avoid a loop: retry later, or narrow the list with filter",
        noun, provider.quote(token)), { provider = "astra", status = res.status,
        pages = count }), 3)
    end
    if token then seen_tokens[token] = true end
    query["continue"] = token
  until not token
end

-- opts: { filter =, include =, limit = }. Follows metadata.continue to the end, at most
-- MAX_PAGES pages.
function m.tasks(c, opts)
  opts = opts or {}
  local names = include_list(opts.include)
  local query = { filter = filters(opts.filter), limit = opts.limit,
                  include = names and table.concat(names, ",") or nil }
  local tasks = {}
  pages(c, "tasks", nil, query, "task", function(res, body)
    if not res then return string.format("%d tasks", #tasks) end
    for i, item in ipairs(c:list(res, body.items, "a list of tasks", 'in "items"', 3)) do
      local obj = as_object(c, res, item, names, i)
      local id = type(obj.id) == "string" and obj.id ~= "" and obj.id or nil
      tasks[#tasks + 1] = c:make_task(obj, id and function() return m.task(c, id) end or nil)
    end
  end)
  return tasks
end

-- ---- backup: a durable call (stdlib/taskrun/calls.lua) -------------------------------------

-- How much earlier than the step's start a backup's creationTimestamp may read and still be
-- taken for the step's: Astra's clock and ours differ a little.
local CLOCK_SKEW = 60

-- astra.backup(app_id [, { name = }]): starts a backup of an application (POST .../appBackups)
-- and returns the astra.backup Task Astra created for it, found by its resourceID. Unless the
-- runbook names it, a journaled run names the backup after the run and the step,
-- "taskrun-r<run id>-<8 hex digits of the step's key>-<n>" (a Kubernetes name: lowercase
-- letters, digits and '-', at most 63 characters), so that in doubt a lookup by name finds
-- exactly what this step created; without a journal it is "taskrun-" and 8 random hex digits.
-- In doubt, the application's appBackups of that name are the candidates (of a name the
-- runbook gave, only those created since the step began, and no list can say that none is
-- this step's: the name may be another's too).
local backup = {}

function backup.check(c, app_id)
  if type(app_id) ~= "string" or app_id == "" then
    usage("backup needs an application id (a non-empty string), got " .. provider.quote(app_id))
  end
end

-- The arguments sent: app_id, opts with the backup's name, and whether the name is taskrun's.
function backup.prepare(c, ctx, app_id, opts)
  opts = opts or {}
  if opts.name ~= nil then return app_id, opts, false end
  local name
  if ctx then
    local journal = require("taskrun._journal")
    local run = tostring(ctx.run_id)
    if not run:match("^[a-z0-9]+$") then run = journal.hash(run) end
    -- The run's first start (seconds, hex) too: run ids are per journal, and two hosts with
    -- journals of their own may both have a run 1 backing up the same app.
    name = string.format("taskrun-r%s-%x-%s-%d", run:sub(1, 20),
      math.floor(journal.run_started()), ctx.key:match("(%x+)$"):sub(1, 8), ctx.n)
  else
    name = "taskrun-" .. core.uuid():sub(1, 8)
  end
  local sent = {}
  for k, v in pairs(opts) do sent[k] = v end
  sent.name = name
  return app_id, sent, true
end

function backup.send(c, app_id, opts)
  local name = opts.name
  local res = c:send("backup", { app = app_id }, { json = {
    type = "application/astra-appBackup", version = "1.1", name = name } })
  -- Without the created id no task can be told from another's: say so, and how to look.
  local function no_id(value, where)
    c:unexpected(res, value, "the created appBackup's id (or a Location header)", where, 3,
      { backup_name = name }, string.format("the backup may have started: look for the "
      .. "appBackup named %s of application %s before starting another", provider.quote(name),
      provider.quote(app_id)))
  end
  -- The created appBackup, or an empty body with its Location.
  local body = {}
  if res.status < 200 or res.status > 299 or res.body:find("%S") then
    body = c:body(res, 2)
    if type(body) ~= "table" or provider.is_list(body) and next(body) ~= nil then no_id(body) end
  end
  local backup_id = body.id
  if type(backup_id) ~= "string" or backup_id == "" then
    -- The last path segment of the Location (patterns that scan it once).
    local location = (res.headers.location or ""):gsub("[?#].*", "")
    backup_id = location:match(".*/([^/]+)")
  end
  if not backup_id then no_id(body.id, 'in "id"') end
  return backup_id
end

function backup.task(c, backup_id, app_id, opts)
  local found = m.tasks(c, { filter = { resourceID = backup_id } })
  for _, task in ipairs(found) do
    if task.raw.name == "astra.backup" or not task.raw.parentTaskID then return task end
  end
  error(core.error("not_found", string.format("astra: backup %s started, but no task names it "
    .. "yet; list it with astra.tasks{ filter = { resourceID = %s } }",
    provider.quote(backup_id), provider.quote(backup_id)),
    { provider = "astra", backup_id = backup_id, backup_name = (opts or {}).name }), 3)
end

function backup.reconcile(c, since, app_id, opts, own)
  local name = opts.name
  -- Astra cannot escape a quote in a filter value: such a name is looked for in the whole list.
  local query = {}
  if type(name) == "string" and not name:find("'", 1, true) then
    query.filter = string.format("name eq '%s'", name)
  end
  local found = {}
  pages(c, "app_backups", { app = app_id }, query, "backup", function(res, body)
    if not res then return string.format("%d candidates", #found) end
    for i, item in ipairs(c:list(res, body.items, "a list of appBackups", 'in "items"', 3)) do
      local obj = c:object(res, item, "an appBackup object",
        string.format('as item %d of "items"', i), 3)
      local meta = provider.is_object(obj.metadata) and obj.metadata or {}
      local created = provider.epoch(meta.creationTimestamp)
      if obj.name == name and type(obj.id) == "string" and obj.id ~= ""
          and (own or created and created >= since - CLOCK_SKEW) then
        found[#found + 1] = { id = obj.id, words = string.format("appBackup %s named %s (%s, "
          .. "created %s)", provider.quote(obj.id), provider.quote(name), tostring(obj.state),
          tostring(meta.creationTimestamp)) }
      end
    end
  end)
  return found, own
end

return provider.module("astra", m, nil, { calls = { backup = backup } })
