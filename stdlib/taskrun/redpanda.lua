-- taskrun.redpanda: Redpanda Cloud data-plane mount tasks (descriptor: bindings/redpanda.c).
--
-- Quirks handled here: both body shapes ({"task":{...}} on /v1, the bare object elsewhere);
-- mount and unmount take a bare JSON array and answer {"mount_task_id": N}; a finished task is
-- deleted, so a 404 after STATE_CUT_OVER or STATE_EXECUTED was seen means it finished.
local provider = require("taskrun.provider")
local json = require("taskrun.json")
local core = require("taskrun._core")

local m = {}

-- A mount task id as Redpanda knows it: a decimal integer. A Lua integer, or a string of
-- decimal digits that fits one, or a float holding an integer below 2^53 (31.0: exact).
-- Never 7.5, nor a float past 2^53 (2^60 + 0.0 may be the rounding of a neighbour: polling
-- it could poll another task), nor what tonumber also reads ("0x10", " 7 ", "1e3").
-- Returns the integer, or nil.
local function parse_id(id)
  if math.type(id) == "integer" then return id end
  if math.type(id) == "float" then
    return math.abs(id) <= 2^53 and math.tointeger(id) or nil
  end
  if type(id) == "string" and #id <= 20 and id:match("^%-?%d+$") then
    local n = tonumber(id)
    if math.type(n) == "integer" then return n end   -- past 2^63 Lua reads a float
  end
  return nil
end

local function task_id(id, what)
  local n = parse_id(id)
  if not n then
    error(core.error("usage", string.format("redpanda.%s: the task id must be a decimal "
      .. "integer (a Lua integer, or a string of digits), got %s", what,
      math.type(id) == "float" and string.format("%.17g", id) or provider.quote(id))), 3)
  end
  return n
end

-- The task object of a mount task answer: {"task":{...}} on /v1, the bare object elsewhere.
local function unwrap(c, res, body, level)
  if body.task ~= nil then
    return c:object(res, body.task, "a mount task object", 'in "task"', level + 1)
  end
  return body
end

-- What survives of a task after Redpanda deleted it: it finished.
local LATE = { STATE_CUT_OVER = true, STATE_EXECUTED = true }

function m.mount_task(c, id)
  id = task_id(id, "mount_task")
  local res = c:send("mount_task", { id = id }, { task_id = id })
  local seen = c.seen[id]
  if res.status == 404 and seen then
    if LATE[seen] then
      local task = c:task_of({ id = id, state = "STATE_FINISHED", status = "succeeded",
        message = "finished: the task was deleted after " .. seen .. " (inferred from a 404)" },
        function() return m.mount_task(c, id) end)
      task.inferred = true
      return task
    end
    -- Seen in progress, then gone: finished and deleted, or deleted by someone. Too early a
    -- state to tell, so it stays an error, with what the operator needs to decide.
    c:raise(res, nil, 2, string.format("mount task %d was last seen in %s and is gone: Redpanda "
      .. "deletes a task once it finishes, but only after STATE_EXECUTED or STATE_CUT_OVER can "
      .. "taskrun read that as success; check the topics, and poll more often to catch the "
      .. "late states (wait options interval = \"1s\", max_interval = \"1s\")", id,
      provider.clip(seen)))
  end
  local body = c:body(res, 2, "a mount task object")
  local task = c:make_task(unwrap(c, res, body, 2), function() return m.mount_task(c, id) end)
  c.seen[id] = task.state
  return task
end

function m.mount_tasks(c)
  local res = c:send("mount_tasks")
  local body = c:body(res, 2)
  -- {"tasks":[...]}, or the bare array; an empty list may be {} (protobuf omits it).
  local list = body
  if provider.is_object(body) then
    list = c:list(res, body.tasks, "a list of mount tasks", 'in "tasks"', 2)
  elseif not provider.is_list(body) then
    c:unexpected(res, body, "a list of mount tasks", nil, 2)
  end
  local tasks = {}
  for i, obj in ipairs(list) do
    c:object(res, obj, "a mount task object", string.format("as task %d of the list", i), 2)
    local id = parse_id(obj.id)
    if not id then
      c:unexpected(res, obj.id, "an integer id", string.format("as the id of task %d", i), 2)
    end
    tasks[i] = c:make_task(obj, function() return m.mount_task(c, id) end)
    c.seen[id] = tasks[i].state
  end
  return tasks
end

-- POSTs a bare array and returns the Task of the mount_task_id it answers. The POST is never
-- repeated: if reading the new task fails, the error carries its id.
local function start(c, op, items)
  local res = c:send(op, nil, { json = json.array(items) })
  local body = unwrap(c, res, c:body(res, 3, "an object with a mount_task_id"), 3)
  local id = parse_id(body.mount_task_id)
  if not id then
    c:unexpected(res, body.mount_task_id, "an integer id", 'in "mount_task_id"', 3, nil,
      "the " .. op .. " may have started: find it with redpanda.mount_tasks() before "
      .. "starting it again")
  end
  local ok, task = pcall(m.mount_task, c, id)
  if ok then return task end
  if type(task) == "table" then
    task.task_id = id
    task.message = string.format("the %s started as mount task %d, but reading it failed: %s; "
      .. "poll it with redpanda.mount_task(%d)", op, id, task.message, id)
  end
  error(task, 3)
end

-- topics: names, or { source_topic_reference = "t", alias = "a" } tables.
function m.mount_topics(c, topics)
  local items = {}
  for i, t in ipairs(type(topics) == "table" and topics or {}) do
    items[i] = type(t) == "string" and { source_topic_reference = t } or t
  end
  if #items == 0 then
    error(core.error("usage", "redpanda.mount_topics needs a list of topics"), 2)
  end
  return start(c, "mount", items)
end

function m.unmount_topics(c, names)
  if type(names) ~= "table" or #names == 0 then
    error(core.error("usage", "redpanda.unmount_topics needs a list of topic names"), 2)
  end
  return start(c, "unmount", { table.unpack(names) })
end

local ACTIONS = { prepare = "ACTION_PREPARE", execute = "ACTION_EXECUTE", finish = "ACTION_FINISH",
                  cancel = "ACTION_CANCEL" }

-- action: "prepare", "execute", "finish", "cancel" (or the ACTION_* names). Returns the Task.
function m.update_mount_task(c, id, action)
  id = task_id(id, "update_mount_task")
  local name = type(action) == "string"
    and (ACTIONS[action:lower()] or action:match("^ACTION_%u+$"))
  if not name then
    error(core.error("usage", "redpanda.update_mount_task: action must be prepare, execute, "
      .. "finish or cancel, got " .. provider.quote(action)), 2)
  end
  c:body(c:send("update", { id = id }, { json = { action = name }, task_id = id }), 2)
  return m.mount_task(c, id)
end

function m.delete_mount_task(c, id)
  id = task_id(id, "delete_mount_task")
  c:body(c:send("delete", { id = id }, { task_id = id }), 2)
  return true
end

return provider.module("redpanda", m)
