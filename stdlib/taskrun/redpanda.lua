-- taskrun.redpanda: Redpanda Cloud data-plane mount tasks (descriptor: bindings/redpanda.c).
--
-- Quirks handled here: both body shapes ({"task":{...}} on /v1, the bare object elsewhere);
-- mount and unmount take a bare JSON array and answer {"mount_task_id": N}; a finished task is
-- deleted, so a 404 after STATE_CUT_OVER or STATE_EXECUTED was seen means it finished.
local provider = require("taskrun.provider")
local json = require("taskrun.json")
local core = require("taskrun._core")

local m = {}

local function task_id(id, what)
  local n = math.tointeger(tonumber(id))
  if not n then
    error(core.error("usage", string.format("redpanda.%s: the task id must be an integer, got %s",
      what, tostring(id))), 3)
  end
  return n
end

local function unwrap(body)
  if type(body.task) == "table" then return body.task end
  return body
end

-- What survives of a task after Redpanda deleted it: it finished.
local LATE = { STATE_CUT_OVER = true, STATE_EXECUTED = true }

function m.mount_task(c, id)
  id = task_id(id, "mount_task")
  local res = c:send("mount_task", { id = id })
  local seen = c.seen[id]
  if res.status == 404 and seen then
    if LATE[seen] then
      local task = c:make_task({ id = id, state = "STATE_FINISHED" },
        function() return m.mount_task(c, id) end)
      task.message = "finished: the task was deleted after " .. seen .. " (inferred from a 404)"
      task.inferred = true
      return task
    end
    -- Seen in progress, then gone: finished and deleted, or deleted by someone. Too early a
    -- state to tell, so it stays an error, with what the operator needs to decide.
    c:raise(res, nil, 2, string.format("mount task %d was last seen in %s and is gone: Redpanda "
      .. "deletes a task once it finishes, but only after STATE_EXECUTED or STATE_CUT_OVER can "
      .. "taskrun read that as success; check the topics, and poll more often (a smaller "
      .. "max_interval) to catch the late states", id, seen))
  end
  local task = c:make_task(unwrap(c:body(res, 2)), function() return m.mount_task(c, id) end)
  c.seen[id] = task.state
  return task
end

function m.mount_tasks(c)
  local body = c:body(c:send("mount_tasks"), 2)
  local list = body.tasks or body
  local tasks = {}
  for i, obj in ipairs(list) do
    local id = obj.id
    tasks[i] = c:make_task(obj, function() return m.mount_task(c, id) end)
    c.seen[id] = tasks[i].state
  end
  return tasks
end

-- POSTs a bare array and returns the Task of the mount_task_id it answers. The POST is never
-- repeated: if reading the new task fails, the error carries its id.
local function start(c, op, items)
  local res = c:send(op, nil, { json = json.array(items) })
  local body = unwrap(c:body(res, 3))
  local id = math.tointeger(body.mount_task_id)
  if not id then
    error(core.error("decode", "redpanda: " .. op .. " answered without a mount_task_id",
      { provider = "redpanda", status = res.status }), 3)
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
  local name = ACTIONS[tostring(action):lower()] or (tostring(action):match("^ACTION_%u+$"))
  if not name then
    error(core.error("usage", "redpanda.update_mount_task: action must be prepare, execute, "
      .. "finish or cancel, got " .. tostring(action)), 2)
  end
  c:body(c:send("update", { id = id }, { json = { action = name } }), 2)
  return m.mount_task(c, id)
end

function m.delete_mount_task(c, id)
  id = task_id(id, "delete_mount_task")
  c:body(c:send("delete", { id = id }), 2)
  return true
end

return provider.module("redpanda", m)
