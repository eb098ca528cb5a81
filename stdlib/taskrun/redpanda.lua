-- taskrun.redpanda: Redpanda Cloud data-plane mount tasks (descriptor: bindings/redpanda.c).
--
-- Quirks handled here: both body shapes ({"task":{...}} on /v1, the bare object elsewhere);
-- mount and unmount take a bare JSON array and answer {"mount_task_id": N}; a finished task is
-- deleted, so a task created or seen here that answers 404 is checked against the topic list
-- (GET /v1/topics): its topics there say whether it finished. When that list cannot be read, a
-- 404 after STATE_CUT_OVER or STATE_EXECUTED was seen still means it finished.
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

-- ---- the topic list -------------------------------------------------------------------

-- Pages a topic list may have before taskrun calls it a loop (as astra.tasks).
local MAX_PAGES = 1000

-- Every topic name GET /v1/topics lists for `contains` (nil: all), following next_page_token
-- to the end; `page_size` (nil: Redpanda's default) per request.
local function list_topics(c, contains, page_size, level)
  level = level + 1
  local query = { ["filter.name_contains"] = contains, page_size = page_size }
  local names, seen_tokens, pages = {}, {}, 0
  repeat
    if pages == MAX_PAGES then
      error(core.error("http", string.format("redpanda: the topic list had more than %d pages "
        .. "(%d topics so far) and its next_page_token had not ended; stopped paging: narrow it "
        .. "with name_contains, or ask for larger pages with page_size", MAX_PAGES, #names),
        { provider = "redpanda", pages = pages }), level)
    end
    pages = pages + 1
    local res = c:send("topics", nil, { query = query })
    local body = c:body(res, level)
    -- {} is a whole answer: protobuf leaves out an empty list and an empty token.
    if type(body) ~= "table" or (next(body) ~= nil and not provider.is_object(body)) then
      c:unexpected(res, body, "a topic list object", nil, level)
    end
    for i, t in ipairs(c:list(res, body.topics, "a list of topics", 'in "topics"', level)) do
      if type(t) ~= "table" or type(t.name) ~= "string" then
        c:unexpected(res, t, "a topic object with a name", string.format("as topic %d of the "
          .. "list", i), level)
      end
      names[#names + 1] = t.name
    end
    local token = body.next_page_token
    if token == json.null or token == "" then token = nil end
    if token ~= nil and type(token) ~= "string" then
      c:unexpected(res, token, "a string", 'in "next_page_token"', level)
    end
    if token and seen_tokens[token] then
      error(core.error("http", "redpanda: the topic list repeated its next_page_token "
        .. provider.quote(token) .. "; stopped paging to avoid a loop: retry later, or narrow "
        .. "it with name_contains", { provider = "redpanda", status = res.status,
        pages = pages }), level)
    end
    if token then seen_tokens[token] = true end
    query.page_token = token
  until not token
  return names
end

-- redpanda.topics{ name_contains =, page_size = } -> the names of the cluster's topics (those
-- whose name contains name_contains), every page followed.
function m.topics(c, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(core.error("usage", "redpanda.topics: the options must be a table "
      .. "{ name_contains =, page_size = }"), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "name_contains" and k ~= "page_size" then
      error(core.error("usage", string.format("redpanda.topics: unknown option %s (it takes "
        .. "name_contains and page_size)", provider.quote(k))), 2)
    end
  end
  local contains, size = opts.name_contains, opts.page_size
  if contains ~= nil and type(contains) ~= "string" then
    error(core.error("usage", "redpanda.topics: name_contains must be a string, got "
      .. provider.quote(contains)), 2)
  end
  if size ~= nil and not (math.tointeger(size) and size >= 1) then
    error(core.error("usage", "redpanda.topics: page_size must be an integer >= 1, got "
      .. provider.quote(size)), 2)
  end
  return list_topics(c, contains ~= "" and contains or nil, size and math.tointeger(size), 2)
end

-- ---- what a task is about ---------------------------------------------------------------

-- A topic's name in the cluster from a reference: a name, or the full reference
-- "cluster-uuid/name/revision" Redpanda also takes (a topic name never holds '/').
local function topic_name(ref)
  if type(ref) ~= "string" or ref == "" then return nil end
  return ref:match("^[^/]*/([^/]+)/[^/]*$") or ref
end

-- What each client knows of the mount tasks created or seen through it: client -> id ->
-- { mount = true|false, topics = { names } }, the names those the topic list will show.
local about = setmetatable({}, { __mode = "k" })

local function known(c)
  about[c] = about[c] or {}
  return about[c]
end

-- Remembers what a task read from Redpanda is about (its type and topics), unless its
-- creation here said so already.
local function note(c, id, obj)
  local list = known(c)
  if list[id] then return end
  local kind = obj.type
  if kind ~= "TYPE_MOUNT" and kind ~= "TYPE_UNMOUNT" then return end
  local names = {}
  for _, t in ipairs(type(obj.topics) == "table" and obj.topics or {}) do
    local name = type(t) == "table" and (topic_name(t.topic_reference)
      or (kind == "TYPE_MOUNT" and topic_name(t.source_topic_reference)))
    if name then names[#names + 1] = name end
  end
  if #names > 0 then list[id] = { mount = kind == "TYPE_MOUNT", topics = names } end
end

-- "a, b and 3 more", clipped: the evidence in a message.
local function names_words(names)
  local shown = {}
  for i = 1, math.min(#names, 5) do shown[i] = names[i] end
  local s = table.concat(shown, ", ")
  if #names > 5 then s = s .. string.format(" and %d more", #names - 5) end
  return provider.clip(s, 300)
end

-- Which of `names` the topic list has: a set. A few names are looked up one by one with
-- filter.name_contains; more, by one listing of every topic.
local function present(c, names)
  local want, have = {}, {}
  for _, n in ipairs(names) do want[n] = true end
  local lists = {}
  if #names <= 4 then
    for i, n in ipairs(names) do lists[i] = list_topics(c, n, nil, 3) end
  else
    lists[1] = list_topics(c, nil, nil, 3)
  end
  for _, list in ipairs(lists) do
    for _, n in ipairs(list) do
      if want[n] then have[n] = true end
    end
  end
  return have
end

-- ---- mount tasks ------------------------------------------------------------------------

-- What survives of a task after Redpanda deleted it: it finished.
local LATE = { STATE_CUT_OVER = true, STATE_EXECUTED = true }

-- The Task of a finished task answered by `res` (its 404 is what the wait counts).
local function finished(c, id, res, message, how)
  c.last_status = res.status
  local task = c:task_of({ id = id, state = "STATE_FINISHED", status = "succeeded",
    message = message }, function() return m.mount_task(c, id) end)
  task[how] = true
  return task
end

-- Task `id`, created or seen here (`task`: what it is about, may be nil; `seen`: its last
-- state, may be nil), answered 404. Returns the finished Task, or raises not_found with the
-- evidence.
local function gone(c, id, res, task, seen)
  local after = seen and ("after " .. provider.clip(seen)) or "before it was read"
  local unread   -- why the topic list could not decide, for the fallback's message
  if task then
    local ok, have = pcall(present, c, task.topics)
    if ok then
      local odd = {}   -- mount: the topics missing; unmount: those still there
      for _, n in ipairs(task.topics) do
        if (have[n] ~= nil) ~= task.mount then odd[#odd + 1] = n end
      end
      if #odd == 0 then
        return finished(c, id, res, string.format("finished: the task was deleted %s; verified by "
          .. "the topic list: %s %s", after, names_words(task.topics),
          task.mount and (#task.topics == 1 and "exists" or "exist")
          or (#task.topics == 1 and "is gone" or "are gone")), "verified")
      end
      local what = task.mount and "mount" or "unmount"
      c:raise(res, { last_state = seen, [task.mount and "missing_topics" or "present_topics"]
        = odd }, 3, string.format("%s task %d is gone (last seen %s), and the topic list %s "
        .. "%d of its %d topics: %s; the %s did not finish (cancelled, or deleted before it "
        .. "finished): see what is there with redpanda.topics{ name_contains = %s }, then "
        .. "%s %s again", what, id, seen and ("in " .. provider.clip(seen))
        or "before it was read", task.mount and "lacks" or "still has", #odd, #task.topics,
        names_words(odd), what, provider.quote(odd[1]), what, #odd == 1 and "it" or "them"))
    end
    if type(have) ~= "table" or have.kind == "usage" or have.kind == "cancelled" then
      error(have, 0)
    end
    unread = provider.clip(tostring(have.message), 300)
  end
  local why = unread and ("; the topic list could not be read: " .. unread) or ""
  if LATE[seen] then
    return finished(c, id, res, "finished: the task was deleted after " .. seen .. " (inferred "
      .. "from a 404" .. why .. ")", "inferred")
  end
  -- Gone too early to tell, and no topic list to tell by: it stays an error, with what the
  -- operator needs to decide.
  c:raise(res, { last_state = seen }, 3, string.format("mount task %d was last seen %s and is "
    .. "gone%s: Redpanda deletes a task once it finishes, but without its topics only "
    .. "STATE_EXECUTED or STATE_CUT_OVER seen before can be read as success; check the "
    .. "topics, and poll more often to catch the late states (wait options interval = "
    .. "\"1s\", max_interval = \"1s\")", id, seen and ("in " .. provider.clip(seen))
    or "before it was read", why))
end

function m.mount_task(c, id)
  id = task_id(id, "mount_task")
  local res = c:send("mount_task", { id = id }, { task_id = id })
  local seen, task = c.seen[id], known(c)[id]
  if res.status == 404 and (seen or task) then return gone(c, id, res, task, seen) end
  local body = unwrap(c, res, c:body(res, 2, "a mount task object"), 2)
  local t = c:make_task(body, function() return m.mount_task(c, id) end)
  note(c, id, body)
  c.seen[id] = t.state
  return t
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
    note(c, id, obj)
    c.seen[id] = tasks[i].state
  end
  return tasks
end

-- ---- mount and unmount: calls (stdlib/taskrun/calls.lua) ------------------------------

-- What a mount_topics argument asks: the bare array to POST, the topics the topic list shows
-- once it finished (each alias, or the source topic's name; {} when one cannot be named) and
-- the source topics' names.
local function mount_items(topics)
  local items, names, sources = {}, {}, {}
  for i, t in ipairs(type(topics) == "table" and topics or {}) do
    items[i] = type(t) == "string" and { source_topic_reference = t } or t
    -- The topic the mount makes: its alias, or the source topic's name.
    local name = type(items[i]) == "table"
      and (topic_name(items[i].alias) or topic_name(items[i].source_topic_reference))
    if name then names[#names + 1] = name end
    local src = type(items[i]) == "table" and topic_name(items[i].source_topic_reference)
    if src then sources[#sources + 1] = src end
  end
  return items, #names == #items and names or {}, sources
end

-- The names an unmount_topics argument removes ({} when one cannot be named).
local function unmount_names(names)
  local list = {}
  for _, n in ipairs(names) do list[#list + 1] = topic_name(n) end
  return #list == #names and list or {}
end

-- POSTs a bare array and returns the mount_task_id it answers (the POST is never repeated).
local function post(c, op, items)
  local res = c:send(op, nil, { json = json.array(items) })
  local body = unwrap(c, res, c:body(res, 3, "an object with a mount_task_id"), 3)
  local id = parse_id(body.mount_task_id)
  if not id then
    c:unexpected(res, body.mount_task_id, "an integer id", 'in "mount_task_id"', 3, nil,
      "the " .. op .. " may have started: find it with redpanda.mount_tasks() before "
      .. "starting it again")
  end
  return id
end

-- The Task of mount task `id`, which a mount or unmount of `names` created (just now, or in an
-- earlier attempt of the run: adopted or replayed): noted first, so that a 404 (Redpanda deletes
-- a finished task) is checked against the topic list. If reading it fails, the error carries
-- its id.
local function started(c, op, id, names)
  id = parse_id(id) or id   -- the journal gives a replayed or adopted id back as text
  if #names > 0 then known(c)[id] = { mount = op == "mount", topics = names } end
  local ok, task = pcall(m.mount_task, c, id)
  if ok then return task end
  if type(task) == "table" then
    task.task_id = id
    task.message = string.format("the %s started as mount task %d, but reading it failed: %s; "
      .. "poll it with redpanda.mount_task(%d)", op, id, task.message, id)
  end
  error(task, 3)
end

-- The same names, in any order.
local function same_set(a, b)
  if #a ~= #b then return false end
  local count = {}
  for _, n in ipairs(a) do count[n] = (count[n] or 0) + 1 end
  for _, n in ipairs(b) do
    if (count[n] or 0) == 0 then return false end
    count[n] = count[n] - 1
  end
  return true
end

-- In doubt, what Redpanda has that a mount (op "mount") or unmount of `names` could have
-- created. Redpanda's tasks carry no creation time, so every task of the right type for the
-- same topics is a candidate (calls.lua leaves out those another journaled step created). None:
-- the topic list decides. A finished task is deleted, so topics that already show the
-- operation done (mount: every topic there; unmount: every one gone) mean it finished and its
-- task is gone: one candidate without an id, a succeeded Task. Topics not done either: nothing
-- was created (the task list is authoritative), send it again. A call whose topics cannot be
-- named cannot be matched: no way to tell.
local function reconcile_op(c, op, names, sources)
  if #names == 0 then return {}, false end
  local kind = op == "mount" and "TYPE_MOUNT" or "TYPE_UNMOUNT"
  local found = {}
  for _, task in ipairs(m.mount_tasks(c)) do
    local raw = task.raw or {}
    local refs, srcs = {}, {}
    for _, t in ipairs(type(raw.topics) == "table" and raw.topics or {}) do
      if type(t) == "table" then
        local name = topic_name(t.topic_reference)
          or (op == "mount" and topic_name(t.source_topic_reference))
        if name then refs[#refs + 1] = name end
        local src = topic_name(t.source_topic_reference)
        if src then srcs[#srcs + 1] = src end
      end
    end
    -- A mount task that names its source topics must name the same ones.
    local sources_match = op ~= "mount" or #srcs == 0 or same_set(srcs, sources)
    if raw.type == kind and same_set(refs, names) and sources_match then
      found[#found + 1] = { id = task.id, words = string.format("mount task %s (%s, %s of %s)",
        tostring(task.id), tostring(task.state), op, names_words(names)) }
    end
  end
  if #found > 0 then return found, true end
  local have = present(c, names)
  for _, n in ipairs(names) do
    if (have[n] ~= nil) ~= (op == "mount") then return {}, true end
  end
  local message = string.format("finished: its task is gone, and the topic list shows the %s "
    .. "done: %s %s", op, names_words(names), op == "mount"
    and (#names == 1 and "exists" or "exist") or (#names == 1 and "is gone" or "are gone"))
  local task
  task = c:task_of({ state = "STATE_FINISHED", status = "succeeded", message = message },
    function() return task end)
  return { { task = task, words = "no task: the " .. op .. " finished (" .. message .. ")" } },
    true
end

-- redpanda.mount_topics(topics) -> Task. topics: names, or { source_topic_reference = "t",
-- alias = "a" } tables.
local mount = {}

function mount.check(c, topics)
  if #(mount_items(topics)) == 0 then
    error(core.error("usage", "redpanda.mount_topics needs a list of topics"), 3)
  end
end

function mount.send(c, topics)
  return post(c, "mount", (mount_items(topics)))
end

function mount.task(c, id, topics)
  local _, names = mount_items(topics)
  return started(c, "mount", id, names)
end

function mount.reconcile(c, since, topics)
  local _, names, sources = mount_items(topics)
  return reconcile_op(c, "mount", names, sources)
end

-- redpanda.unmount_topics(names) -> Task.
local unmount = {}

function unmount.check(c, names)
  if type(names) ~= "table" or #names == 0 then
    error(core.error("usage", "redpanda.unmount_topics needs a list of topic names"), 3)
  end
end

function unmount.send(c, names)
  return post(c, "unmount", { table.unpack(names) })
end

function unmount.task(c, id, names)
  return started(c, "unmount", id, unmount_names(names))
end

function unmount.reconcile(c, since, names)
  return reconcile_op(c, "unmount", unmount_names(names), {})
end

local ACTIONS = { prepare = "ACTION_PREPARE", execute = "ACTION_EXECUTE", finish = "ACTION_FINISH",
                  cancel = "ACTION_CANCEL" }

local function action_name(action)
  return type(action) == "string" and (ACTIONS[action:lower()] or action:match("^ACTION_%u+$"))
end

-- Where a task is in its life (Redpanda's mountable-topics page), and the states that show an
-- action took effect: the state it moves the task to, or any later one.
local ORDER = { STATE_PLANNED = 1, STATE_PREPARING = 2, STATE_PREPARED = 3, STATE_EXECUTING = 4,
                STATE_EXECUTED = 5, STATE_CUT_OVER = 6 }
local TAKES = { ACTION_PREPARE = 2, ACTION_EXECUTE = 4, ACTION_FINISH = 6 }
local CANCEL = { STATE_CANCELING = true, STATE_CANCELLED = true }

-- redpanda.update_mount_task(id, action) -> Task. action: "prepare", "execute", "finish",
-- "cancel" (or the ACTION_* names).
local update = { acts_on_given_id = true }

function update.check(c, id, action)
  task_id(id, "update_mount_task")
  if not action_name(action) then
    error(core.error("usage", "redpanda.update_mount_task: action must be prepare, execute, "
      .. "finish or cancel, got " .. provider.quote(action)), 3)
  end
end

function update.send(c, id, action)
  id = task_id(id, "update_mount_task")
  c:body(c:send("update", { id = id }, { json = { action = action_name(action) },
    task_id = id }), 3)
  return id
end

function update.task(c, id)
  return m.mount_task(c, task_id(id, "update_mount_task"))
end

-- In doubt: the task's state says whether the action took effect. At or past the state the
-- action moves it to (PREPARING for ACTION_PREPARE, EXECUTING for ACTION_EXECUTE, CUT_OVER for
-- ACTION_FINISH, CANCELING or CANCELLED for ACTION_CANCEL): adopt, whether the action or the
-- task's own progress got it there (sending it again could only be refused). Before that state:
-- the action did not take effect, send it again (a refusal then gives Redpanda's own words).
-- The task gone (404, Redpanda deletes a finished task) or unreadable: no way to tell.
function update.reconcile(c, since, id, action)
  id = task_id(id, "update_mount_task")
  local name = action_name(action)
  local res = c:send("mount_task", { id = id }, { task_id = id })
  if res.status == 404 then return {}, false end
  local body = unwrap(c, res, c:body(res, 2, "a mount task object"), 2)
  local task = c:make_task(body, function() return m.mount_task(c, id) end)
  note(c, id, body)
  c.seen[id] = task.state
  local state = tostring(body.state)
  local took
  if name == "ACTION_CANCEL" then
    took = CANCEL[state]
  else
    took = TAKES[name] and ORDER[state] and ORDER[state] >= TAKES[name]
  end
  if not took then return {}, true end
  return { { id = id, task = task, words = string.format("mount task %d, now in %s: the %s "
    .. "took effect", id, provider.clip(state), name) } }, true
end

-- redpanda.delete_mount_task(id) -> true.
local delete = { acts_on_given_id = true }

function delete.check(c, id)
  task_id(id, "delete_mount_task")
end

function delete.send(c, id)
  id = task_id(id, "delete_mount_task")
  c:body(c:send("delete", { id = id }, { task_id = id }), 3)
  return id, true
end

-- Nothing is left to read of a deleted task.
function delete.task()
  return true
end

-- In doubt: the task gone (404) means the delete took effect (or the task finished and Redpanda
-- deleted it: either way there is nothing left to delete): adopt. Still there: it did not, send
-- it again.
function delete.reconcile(c, since, id)
  id = task_id(id, "delete_mount_task")
  local res = c:send("mount_task", { id = id }, { task_id = id })
  if res.status == 404 then
    return { { id = id, words = string.format("mount task %d is gone: deleted", id) } }, true
  end
  c:body(res, 2, "a mount task object")
  return {}, true
end

-- Mount tasks move through their states in seconds and are deleted once finished: polls
-- start at 1 s and back off to 5 s at most (see the README's "Waiting").
return provider.module("redpanda", m, nil, { wait = { interval = 1, max_interval = 5 },
  calls = { mount_topics = mount, unmount_topics = unmount, update_mount_task = update,
            delete_mount_task = delete } })
