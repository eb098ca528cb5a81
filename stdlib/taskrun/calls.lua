-- Provider calls that start or change something (every non-GET: bluexp.start_restore,
-- redpanda.mount_topics, ...) are steps of their own in a journaled run, so that a run killed at
-- any point and started again never sends the same request twice.
--
-- A call's step is keyed by ("call:<provider>.<method>:<hash of the client's URL and settings
-- and the call's arguments>", n), n counting repeats of the same call in the run: calls are
-- matched by what they ask, never by the order concurrent tasks made them in.
--   1. "started", with the arguments, is journaled durably before the request is sent;
--   2. the created id, durably, as soon as the answer names it; then the Task read from it.
-- On resume a finished call sends nothing: it reads its Task again by the created id (a GET).
-- A call started but never answered is in doubt: it is reconciled with the vendor before
-- anything is sent (the module's `reconcile` lists what the vendor has that the call could have
-- created): one candidate is adopted; none, where the vendor's list is authoritative, sends the
-- request again, once per attempt of the run; anything else stops the run with kind "in_doubt" (exit 6) until an
-- operator settles it with `taskrun runs resolve`.
--
-- A module declares its calls in provider.module's traits.calls: method name -> descriptor:
--   send(c, ...) -> id [, task]      sends the request; the created id (string or integer) and
--                                    the Task when the answer carries one
--   task(c, id, ...) -> Task         reads the Task of a created id (a GET)
--   reconcile(c, since, ...) -> candidates, authoritative
--                                    what the vendor has that this call, begun at `since` (epoch
--                                    seconds), could have created: a list of
--                                    { id =, words = "job 7 (IN_PROGRESS)" [, task =] }
--                                    (`task`: the Task when it cannot be read again by id), and
--                                    whether an empty list means nothing was created; what
--                                    another journaled step created is left out here
--   prepare(c, ctx, ...) -> ...      optional: the arguments to send and journal, given
--                                    ctx = { run_id =, key =, n = } (astra.backup names its
--                                    backup after the step, so that a lookup finds it exactly)
--   check(c, ...)                    optional: raises usage for bad arguments, before anything is
--                                    journaled
--   acts_on_given_id = true          optional: the call changes what the id it is given names
--                                    (redpanda.update_mount_task): its candidates are that id,
--                                    which the step that created it knows, and are kept
-- Without a journal (--no-journal, a -e run) a call is check, prepare, send, then task.
local core = require("taskrun._core")
local journal = require("taskrun._journal")
local json = require("taskrun.json")
local provider = require("taskrun.provider")
local step = require("taskrun.step")

local calls = {}
local counts = {}    -- key -> calls of it so far in this run
local claimed = {}   -- "key#n" -> true: journal rows this run has matched

local quote, clip = provider.quote, provider.clip

local function rfc3339(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

-- The arguments as JSON text (an array, nil as null; objects with sorted keys, so the same
-- arguments always give the same text).
local function encode_args(name, n, ...)
  local list = {}
  for i = 1, n do
    local v = select(i, ...)
    if v == nil then v = json.null end
    list[i] = v
  end
  local ok, text = pcall(json.encode, json.array(list))
  if not ok then
    error(core.error("usage", string.format("%s: its arguments cannot be journaled (%s): pass "
      .. "strings, numbers, booleans and tables of them", name,
      type(text) == "table" and tostring(text.message) or tostring(text))), 4)
  end
  return text
end

local function decode_args(text)
  local ok, args = pcall(json.decode, text)
  return ok and type(args) == "table" and args or {}
end

-- Up to `max` places where journaled arguments `a` and current ones `b` differ, as words:
-- 'argument 1.restore.target.volume: "vol1" (journal) vs "vol2" (now)'.
local function differences(a, b, max)
  local out = {}
  local function walk(x, y, path)
    if #out >= max then return end
    if type(x) == "table" and type(y) == "table" then
      local keys = {}
      for k in pairs(x) do keys[#keys + 1] = k end
      for k in pairs(y) do if x[k] == nil then keys[#keys + 1] = k end end
      table.sort(keys, function(p, q) return tostring(p) < tostring(q) end)
      for _, k in ipairs(keys) do
        local sub = math.type(k) == "integer" and string.format("%s[%d]", path, k)
          or (path == "" and tostring(k) or path .. "." .. tostring(k))
        walk(x[k], y[k], sub)
      end
    elseif x ~= y then
      local function words(v)
        if v == nil or v == json.null then return "absent" end
        if type(v) == "table" then return "a table" end
        return quote(v)
      end
      out[#out + 1] = string.format("%s: %s (journal) vs %s (now)", path, words(x), words(y))
    end
  end
  for i = 1, math.max(#a, #b) do walk(a[i], b[i], "argument " .. i) end
  return out
end

-- The in-doubt error: exit 6, naming the step, the request and what to do.
local function in_doubt(name, key, n, since, args_text, why, candidates)
  local handle = key .. "#" .. n
  local list = {}
  for i, cand in ipairs(candidates or {}) do
    list[i] = cand.words or tostring(cand.id)
  end
  error(core.error("in_doubt", string.format("in doubt: an operator must decide: %s (step %s of "
    .. "run %s, sent at %s with arguments %s) %s%s. Settle it with `taskrun runs resolve %s %s "
    .. "--id ID` (adopt what the vendor created), `--redo` (send the request again) or "
    .. "`--abandon` (end the run), then run it again", name, handle, journal.run_id(),
    rfc3339(since), clip(args_text, 300), why, #list > 0 and (": " .. table.concat(list, "; "))
    or "", journal.run_id(), handle),
    { step = handle, call = name, candidates = #list > 0 and list or nil }), 0)
end

-- Whether error `err` from send means the vendor did not act on the request: it was never sent
-- (bad arguments, no token, its timeout ran out in its host's queue: `sent` false) or was
-- answered with a refusal (4xx).
local function refused(err)
  if type(err) ~= "table" then return false end
  if err.sent == false then return true end
  local kind = err.kind
  if kind == "usage" or kind == "auth" or kind == "not_found" then return true end
  local status = math.type(err.status) == "integer" and err.status
  return kind == "http" and status and status >= 400 and status < 500 or false
end

-- A call's error is kept as taskrun.step keeps a step's.
local encode_error, raise_recorded = step.encode_error, step.raise_recorded

local plain = provider.task_state

local function id_text(id)
  if id == nil then return nil end
  return tostring(id)
end

-- Sends the call and journals its answer; returns the Task.
local function send(c, desc, name, key, n, data, ...)
  journal.started(key, n, json.encode(data), true)
  local ok, id, task = pcall(desc.send, c, ...)
  if not ok then
    local err = id
    if refused(err) and not journal.stopping() then
      journal.failed(key, n, encode_error(err), true)
    else
      -- Sent, and no answer that says what happened: in doubt. The run's end records it as such
      -- (resumable), whatever exit code the error gives, so that running it again reconciles.
      journal.mark_in_doubt()
    end
    error(err, 0)
  end
  data.id = id
  journal.finished(key, n, json.encode(data), id_text(id), true)
  task = task or desc.task(c, id, ...)
  data.task = plain(task)
  journal.finished(key, n, json.encode(data), id_text(id))
  return task
end

-- The Task of a call the journal says finished, created `id` (or described by `rec.task`).
local function replay(c, desc, id, rec, ...)
  if id == nil and rec and rec.task then return c:task_of(rec.task) end
  return desc.task(c, id, ...)
end

-- The call made in a journaled run.
local function journaled(c, desc, name, fn_args_n, ...)
  local args_text = encode_args(name, fn_args_n, ...)
  local identity = { c.url }
  for _, s in ipairs(c.spec.settings) do identity[#identity + 1] = tostring(c[s.option]) end
  local key = string.format("call:%s:%s", name, journal.hash(table.concat(identity, "\0")
    .. "\0" .. args_text))
  local n = (counts[key] or 0) + 1
  counts[key] = n
  claimed[key .. "#" .. n] = true
  local sent = desc.prepare
    and table.pack(desc.prepare(c, { run_id = journal.run_id(), key = key, n = n }, ...))
    or table.pack(...)
  local function args() return table.unpack(sent, 1, sent.n) end
  local state, result, err, created, since
  if journal.resumed() then state, result, err, created, since = journal.get(key, n) end
  local data = { call = name, args = json.decode(args_text) }

  if state == "finished" then
    local ok, rec = pcall(json.decode, result or "")
    return replay(c, desc, created, ok and rec or nil, args())
  elseif state == "failed" and not journal.retry_failed() then
    raise_recorded(err)
  elseif state == "redo" then
    core.log.info(name .. ": sending the request again, as an operator decided",
      { step = key .. "#" .. n })
    return send(c, desc, name, key, n, data, args())
  elseif state == "started" then
    local ok, rec = pcall(json.decode, result or "")
    rec = ok and type(rec) == "table" and rec or {}
    local found, authoritative = desc.reconcile(c, since, args())
    -- What another step (of this run or another) created is not this call's.
    local candidates = {}
    for _, cand in ipairs(found) do
      if cand.id == nil or desc.acts_on_given_id or not journal.known_id(tostring(cand.id)) then
        candidates[#candidates + 1] = cand
      end
    end
    if #candidates == 1 then
      local cand = candidates[1]
      core.log.info(string.format("%s: its answer was never recorded; adopted %s", name,
        cand.words or tostring(cand.id)), { step = key .. "#" .. n })
      data.id, data.adopted = cand.id, true
      data.task = cand.task and plain(cand.task) or nil
      journal.finished(key, n, json.encode(data), id_text(cand.id), true)
      return cand.task or desc.task(c, cand.id, args())
    elseif #candidates == 0 and authoritative and rec.resent_attempt ~= journal.attempt() then
      -- Once per attempt: a resend an earlier attempt was killed before sending (the vendor's
      -- complete list still shows nothing) is as safe to send as the first; two lost in one
      -- attempt are for an operator.
      core.log.info(name .. ": its answer was never recorded and the vendor has nothing it "
        .. "created; sending the request again, once", { step = key .. "#" .. n })
      data.resent, data.resent_attempt = true, journal.attempt()
      return send(c, desc, name, key, n, data, args())
    end
    journal.mark_in_doubt()
    in_doubt(name, key, n, since, args_text, #candidates > 1
      and string.format("was sent but its answer was never recorded, and the vendor has %d "
        .. "candidates", #candidates)
      or rec.resent and "was sent again after an earlier answer was lost, and that answer was "
        .. "lost too; the vendor shows nothing it created"
      or "was sent but its answer was never recorded, and the vendor cannot tell whether it "
        .. "acted on it", candidates)
  elseif state == nil and journal.resumed() then
    -- A call this run has not made before, while the journal holds a call of the same method,
    -- started and never answered, that this run has not made again: the runbook changed what
    -- it sends, and sending it could start the operation twice.
    for _, row in ipairs(journal.steps("call:" .. name .. ":")) do
      if row.state == "started" and not claimed[row.key .. "#" .. row.seq] then
        local ok, old = pcall(json.decode, row.result or "")
        old = ok and type(old) == "table" and old or {}
        local diff = differences(type(old.args) == "table" and old.args or {},
          decode_args(args_text), 5)
        journal.mark_in_doubt()
        in_doubt(name, row.key, row.seq, row.started, json.encode(old.args or json.null),
          "was sent and never answered, and this run now makes the call differently ("
          .. (#diff > 0 and table.concat(diff, "; ") or "other arguments") .. "), so it "
          .. "cannot tell whether that request already did what this one asks")
      end
    end
  end
  return send(c, desc, name, key, n, data, args())
end

-- The method `method` of provider `provider`, described by `desc` (above), as a module method:
-- fn(client, ...) -> Task.
function calls.method(provider, method, desc)
  local name = provider .. "." .. method
  return function(c, ...)
    if desc.check then desc.check(c, ...) end
    if journal.journaled() then return journaled(c, desc, name, select("#", ...), ...) end
    local function go(...)
      local id, task = desc.send(c, ...)
      return task or desc.task(c, id, ...)
    end
    if desc.prepare then return go(desc.prepare(c, nil, ...)) end
    return go(...)
  end
end

return calls
