-- taskrun.wait, wait_all and wait_any: poll a Task until it is done, with one deadline,
-- backoff with jitter, Retry-After, transient errors survived, and progress in the log.
--
-- Every poll is classified: a Task is progress; a transport error, 408, 429, 5xx or an
-- undecodable body is transient (logged, polling goes on until the deadline); a 404 is "not
-- there yet" for opts.not_found; 401/403 and other 4xx end the wait at once.
local backoff = require("taskrun.backoff")
local core = require("taskrun._core")
local due = require("taskrun.due")
local http = require("taskrun.http")
local journal = require("taskrun._journal")
local json = require("taskrun.json")
local provider = require("taskrun.provider")
local status = require("taskrun.status")

local wait = {}

local push_deadline, pop_deadline = http.push_deadline, http.pop_deadline

local log = core.log
local log_enabled = log.enabled
local json_mode = core.log_format == "json"

-- Text lines say it all in the message; JSON lines carry the fields for machines. Every field
-- has one form across events (the README's event table): durations and times in seconds as
-- numbers, `task_id` as the vendor gives it (an integer for Redpanda), `state` the vendor's
-- string and `task_status` taskrun's normalized one (`status` is an HTTP status, in errors).
local function event(level, message, fields)
  log[level](message, json_mode and fields or nil)
end

-- Seconds, to the millisecond: a duration field.
local function seconds(s)
  return math.floor(s * 1000 + 0.5) / 1000
end

-- The fields that say which task an event is about.
local function about_task(fields, task)
  if type(task) == "table" then
    fields.provider = task.provider
    local id = task.id
    fields.task_id = (math.type(id) == "integer" or type(id) == "string") and id
      or (id ~= nil and tostring(id) or nil)
  end
  return fields
end

-- ---- options ----------------------------------------------------------------------------

local defaults = { timeout = 3600, interval = 2, max_interval = 30, backoff = 2, jitter = true,
                   raise = true, stable = 1, not_found = 0, heartbeat = 30, max_retry_after = 300 }

local function usage(msg)
  error(core.error("usage", "taskrun.wait: " .. msg), 4)
end

-- Options taken besides the defaults: a misspelt one ("timout") is refused, not ignored, or a
-- cron job would wait an hour for a deadline nobody set.
local extra_options = { ["until"] = true, on_change = true, seed = true, name = true,
                        fail_fast = true }

-- The options of the delay schedule. Each one the runbook does not set comes from the Task's
-- provider (provider.wait_defaults: Redpanda polls faster, its finished tasks vanish), else
-- from `defaults`; so the schedule is resolved per target, once its provider is known.
local SCHEDULE = { "interval", "max_interval", "backoff" }

local function check_options(opts)
  if opts ~= nil and type(opts) ~= "table" then usage("options must be a table") end
  opts = opts or {}
  for k in pairs(opts) do
    if defaults[k] == nil and not extra_options[k] then
      usage(string.format("unknown option %q (see the README's table of wait options)",
        tostring(k)))
    end
  end
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  for _, k in ipairs({ "timeout", "not_found", "heartbeat", "max_retry_after" }) do
    o[k] = core.duration(o[k])
  end
  -- The runbook's own schedule options, checked now; the rest wait for the target's provider.
  local given = {}
  for _, k in ipairs(SCHEDULE) do
    o[k] = nil
    given[k] = opts[k]
  end
  if given.interval ~= nil then given.interval = core.duration(given.interval) end
  if given.max_interval ~= nil then given.max_interval = core.duration(given.max_interval) end
  o.given = given
  if o.timeout <= 0 then usage("timeout must be more than 0") end
  if given.interval and given.interval <= 0 then usage("interval must be more than 0") end
  if given.max_interval and given.max_interval <= 0 then
    usage("max_interval must be more than 0")
  end
  if given.backoff ~= nil and (type(given.backoff) ~= "number" or given.backoff < 1) then
    usage("backoff must be a number >= 1")
  end
  if given.interval and given.max_interval and given.max_interval < given.interval then
    usage(string.format("max_interval (%gs) must be at least interval (%gs): give both, e.g. "
      .. "interval = %g, max_interval = %g", given.max_interval, given.interval,
      given.max_interval, given.max_interval))
  end
  if math.type(o.stable) ~= "integer" or o.stable < 1 then
    usage("stable must be an integer >= 1")
  end
  for _, k in ipairs({ "jitter", "raise", "fail_fast" }) do
    if o[k] ~= nil and type(o[k]) ~= "boolean" then usage(k .. " must be true or false") end
  end
  for _, k in ipairs({ "until", "on_change" }) do
    if o[k] ~= nil and type(o[k]) ~= "function" then usage(k .. " must be a function") end
  end
  o["until"] = o["until"] or function(task) return task.done end
  o.schedules = {}
  if o.seed ~= nil and not math.tointeger(o.seed) then usage("seed must be an integer") end
  return o
end

-- The delay schedule of a wait on a task of provider `name` (nil: none known):
-- { interval =, max_interval =, backoff =, jitter = } for taskrun.backoff.
local function make_schedule(o, name)
  local own = name and provider.wait_defaults(name) or {}
  local given = o.given
  local s = { jitter = o.jitter }
  s.interval = given.interval or core.duration(own.interval or defaults.interval)
  s.backoff = given.backoff or own.backoff or defaults.backoff
  local cap = core.duration(own.max_interval or defaults.max_interval)
  -- A long interval alone raises the cap with it, rather than being refused.
  s.max_interval = given.max_interval or (given.interval and math.max(s.interval, cap) or cap)
  if s.max_interval < s.interval then
    -- max_interval alone, under the default interval: the advice gives both, and works.
    usage(string.format("max_interval (%gs) must be at least interval (%gs, %s unless "
      .. "given): give both, e.g. interval = %g, max_interval = %g", s.max_interval, s.interval,
      own.interval and (name .. " waits' default") or "the default", s.max_interval,
      s.max_interval))
  end
  return s
end

-- The same, made once per options and provider: the waits of one wait_all share theirs (the
-- schedule is only read).
local function schedule(o, name)
  local key = name or false
  local s = o.schedules[key]
  if not s then
    s = make_schedule(o, name)
    o.schedules[key] = s
  end
  return s
end

-- ---- words --------------------------------------------------------------------------------

local function human(seconds)
  if seconds < 10 then return string.format("%.1fs", seconds) end
  seconds = math.floor(seconds + 0.5)
  local h, m, s = seconds // 3600, seconds % 3600 // 60, seconds % 60
  if h > 0 then return string.format("%dh%02dm%02ds", h, m, s) end
  if m > 0 then return string.format("%dm%02ds", m, s) end
  return string.format("%ds", s)
end
wait.human = human

local clip = provider.clip

local function label_of(task, fallback)
  if type(task) == "table" and task.provider then
    return string.format("%s task %s", clip(tostring(task.provider), 40),
      clip(tostring(task.id)))
  end
  return fallback and clip(tostring(fallback)) or "the target"
end

local function state_words(task)
  if not task then return "no state seen" end
  local s = string.format("%s (%s", clip(tostring(task.state)), clip(tostring(task.status), 40))
  if task.progress then s = s .. string.format(", %s%%", clip(tostring(task.progress), 40)) end
  return s .. ")"
end

-- "14x 200, 2x 503, 1x 429", most frequent first.
local function counts_words(counts)
  local list = {}
  for what, n in pairs(counts) do list[#list + 1] = { what, n } end
  table.sort(list, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  for i, e in ipairs(list) do list[i] = string.format("%dx %s", e[2], e[1]) end
  return #list > 0 and table.concat(list, ", ") or "none"
end

-- ---- classifying a failed poll ------------------------------------------------------------

local function classify(err)
  if type(err) ~= "table" then return "fatal" end
  local kind, status = err.kind, err.status
  if kind == "transport" then return "transient", err.cause or "transport" end
  if kind == "decode" then return "transient", "bad body" end
  if kind == "http" and (status == 408 or status == 429 or (status or 0) >= 500) then
    return "transient", tostring(status)
  end
  if kind == "not_found" then return "not_found", "404" end
  return "fatal"
end

-- ---- the interrupt message ----------------------------------------------------------------

local active = {}   -- wait state -> true, for "what was being waited on" at SIGINT/SIGTERM

core.on_interrupt(function()
  status.stop()   -- before the message, so the block does not stay under it
  local parts = {}
  for w in pairs(active) do
    parts[#parts + 1] = string.format("%s, %s for %s", w.label, state_words(w.task),
      human(core.now() - w.started))
  end
  table.sort(parts)
  if #parts == 0 then return nil end
  if #parts > 5 then
    parts = { parts[1], parts[2], parts[3], string.format("and %d more", #parts - 3) }
  end
  return "waiting on " .. table.concat(parts, "; ")
end)

-- ---- one wait -----------------------------------------------------------------------------

local function fetcher(target)
  if type(target) == "function" then return target, nil end
  if type(target) == "table" and type(target.refresh) == "function" then
    return function() return target:refresh() end, target
  end
  usage("the target must be a Task or a function returning a Task")
end

-- provider, task and task_id: every error about a vendor task names it; `status` too when
-- a response is what ended the wait.
local function about(fields, task)
  if type(task) ~= "table" then return fields end
  fields.task = fields.task or task
  if fields.provider == nil then fields.provider = task.provider end
  if fields.task_id == nil then fields.task_id = task.id end
  return fields
end

local function fail(kind, w, message, fields)
  fields = about(fields or {}, w.task)
  fields.waited = core.now() - w.started
  fields.polls = w.polls
  fields.responses = w.counts
  error(core.error(kind, message, fields), 0)
end

local function summary(w)
  return string.format("%d poll%s in %s; responses: %s", w.polls, w.polls == 1 and "" or "s",
    human(core.now() - w.started), counts_words(w.counts))
end

-- The end of a wait on a terminal or satisfying snapshot.
local function finish(w, task, o, satisfied)
  local fields = json_mode and about_task({ event = "end", state = task.state,
    task_status = task.status, polls = w.polls, elapsed = seconds(core.now() - w.started) },
    task)
  if satisfied and (task.ok or not task.done) then
    if log_enabled("info") then
      event("info", string.format("%s: %s after %s", w.label, tostring(task.state), summary(w)),
        fields)
    end
    w.outcome = "succeeded"
    return task
  end
  event("warn", string.format("%s: ended %s after %s", w.label, state_words(task), summary(w)),
    fields)
  local kind = task.status == "cancelled" and "cancelled" or "failed"
  w.outcome = kind
  if not o.raise then return task end
  local why = task.ok and "without meeting the until condition" or state_words(task)
  fail(kind, w, string.format("%s ended %s%s; %s", w.label, why,
    task.message and (": " .. clip(tostring(task.message), 500)) or "", summary(w)),
    { task = task, status = provider.status_of(task) })
end

-- The task went from state `before` (nil: none seen yet) to task.state.
local function note_change(w, task, o, before)
  local now = core.now()
  w.last_log = now
  -- Made only when it is logged: a --quiet run of 10,000 waits makes none of these lines, nor
  -- the labels they name.
  if log_enabled("info") then
    local elapsed = now - w.started
    local fields = json_mode and about_task({ event = "transition", from = before,
      to = task.state, progress = task.progress, elapsed = seconds(elapsed) }, task)
    local progress = task.progress and string.format(" %s%%", tostring(task.progress)) or ""
    local change = before and (tostring(before) .. " -> ") or ""
    event("info", string.format("%s: %s%s%s (%s)", w.label, clip(change),
      clip(tostring(task.state)), clip(progress, 40), human(elapsed)), fields)
  end
  if o.on_change then o.on_change(task) end
end

-- An HTTP status as the key of a wait's response counts: "200", made once, not per poll.
local code_words = setmetatable({}, { __index = function(words, status)
  local word = tostring(status)
  words[status] = word
  return word
end })

-- Polls once. Returns a fresh Task, or nil and the Retry-After of a transient failure.
local function poll(w, fetch, o)
  w.polls = w.polls + 1
  -- Every request this poll makes ends by the deadline, and is held back by a host's
  -- Retry-After no longer than the wait's own would hold it (see taskrun.http). pcall returns
  -- whatever fetch does, so the cap is undone here without a to-be-closed scope (a table per
  -- poll).
  local co, outer, outer_hold = push_deadline(w.deadline, o.max_retry_after)
  local ok, res = pcall(fetch)
  pop_deadline(co, outer, outer_hold)
  local now = core.now()
  if ok then
    if type(res) ~= "table" or res.status == nil then
      usage("the target function must return a Task (got " .. type(res) .. ")")
    end
    local code = code_words[provider.status_of(res) or 200]
    w.counts[code] = (w.counts[code] or 0) + 1
    w.missing_since = nil
    -- The label names the task: made again (when next needed) only when another task
    -- answers, not for every poll.
    local last = w.task
    if last and res.provider and (last.id ~= res.id or last.provider ~= res.provider) then
      w.label = nil
    end
    w.task = res
    return res
  end
  local class, reason = classify(res)
  if class == "fatal" then
    -- The answer that ends the wait is one of the responses seen: count it in the summary.
    if type(res) == "table" and res.status then
      local code = tostring(res.status)
      w.counts[code] = (w.counts[code] or 0) + 1
    end
    if type(res) == "table" then
      if type(res.message) == "string" then
        res.message = string.format("%s (while waiting on %s: %s)", res.message, w.label,
          summary(w))
      end
      about(res, w.task)
    end
    error(res, 0)
  end
  w.counts[reason] = (w.counts[reason] or 0) + 1
  if class == "not_found" then
    w.missing_since = w.missing_since or now
    if now - w.missing_since >= o.not_found then
      res.message = string.format("%s (not there after %s of waiting; %s)", res.message,
        human(now - w.missing_since), summary(w))
      error(about(res, w.task), 0)
    end
  end
  -- Cut short by the deadline: the timeout error that follows says it all.
  if w.last or now >= w.deadline - http.MIN_TIMEOUT then return nil end
  event("warn", string.format("%s: poll failed (%s), polling on: %s", w.label, reason,
    tostring(res.message or res)), json_mode and about_task({ event = "retry", reason = reason,
    polls = w.polls, retry_after = res.retry_after }, w.task))
  return nil, res.retry_after
end


-- The time the last poll is given to be answered: it starts this long (or half the time
-- left, if less) before the deadline, since no request runs past it.
local LAST_POLL_TIME = 5

local function timed_out(w, now)
  fail("timeout", w, string.format("timed out after %s waiting on %s: last state %s; %s",
    human(now - w.started), w.label, state_words(w.task), summary(w)))
end

-- A wait's schedule, that of its task's provider: known from a Task target at once (and fixed
-- on its first turn, so a schedule option its provider refuses is refused before any request),
-- from a function target's first answer.
local function schedule_of(w, o)
  local sched = w.sched
  if not sched then
    sched = schedule(o, w.task and w.task.provider)
    w.sched = sched
  end
  return sched
end

-- The next delay of that schedule, drawn with the wait's own jitter generator.
local function next_rung(w, o)
  local sched = schedule_of(w, o)
  local r
  w.rng, r = backoff.next(w.rng)
  w.rung = w.rung + 1
  return backoff.delay(sched, w.rung, r)
end

-- The delay before the next turn, or a timeout error. After the last poll it is the time left
-- to the deadline, and the turn that follows times out (w.expiring).
local function next_delay(w, o, retry_after)
  local deadline = w.deadline
  local now = core.now()
  if w.last and now < deadline then
    -- The last poll is made: nothing left to do but let the deadline come.
    w.expiring = true
    return deadline - now
  end
  local left = deadline - now
  if w.last or left < http.MIN_TIMEOUT then timed_out(w, now) end
  local d = next_rung(w, o)
  local ra
  if retry_after then
    -- Clamped first, so a hostile value cannot park a wait for longer than max_retry_after;
    -- then past the deadline, waiting is pointless: say so now.
    ra = math.min(retry_after, o.max_retry_after)
    if ra > left then
      local asked = human(retry_after)
      if ra < retry_after then
        asked = string.format("%s (max_retry_after %s)", asked, human(ra))
      end
      fail("timeout", w, string.format("%s: the server asked to retry after %s, past the "
        .. "deadline (%s left); last state %s; %s; give the wait a longer timeout, or a "
        .. "smaller max_retry_after to poll sooner than asked", w.label, asked, human(left),
        state_words(w.task), summary(w)))
    end
    if ra > d then d = ra end
  end
  -- Near the deadline, one last poll, early enough to be answered before it (never sooner
  -- than Retry-After asked).
  local grace = math.min(LAST_POLL_TIME, left / 2)
  if d > left - grace then
    d = math.max(left - grace, ra or 0)
    w.last = true
  end
  -- On a terminal the live status block says the same, all the time.
  if not status.live and now - w.last_log >= o.heartbeat and w.task then
    w.last_log = now
    event("info", string.format("%s: still %s after %s, %s left", w.label,
      state_words(w.task), human(now - w.started), human(left)), json_mode and about_task({
      event = "heartbeat", state = w.task.state, progress = w.task.progress,
      elapsed = seconds(now - w.started), left = seconds(left) }, w.task))
  end
  return d
end

-- One turn of a wait: a poll (none for a Task target whose snapshot is terminal already), its
-- logging and the decision. Returns the Task that ends the wait, or nil and the delay before
-- the next turn; raises what ends the wait otherwise. A turn never sleeps: between turns a wait
-- is only its state `w`, so the 10,000 sleeping waits of a wait_all hold no coroutine.
local function turn(w, o)
  if w.expiring then timed_out(w, core.now()) end
  local task, retry_after = w.task, nil
  -- The state noted last: that of the Task before this poll (read now, in case a target
  -- function changes that table in place).
  local before = task and task.state
  if w.polls == 0 and task then
    -- A Task target: its snapshot is the first state seen, and a terminal one needs no request.
    schedule_of(w, o)
    note_change(w, task, o, nil)
    if not task.done then task, retry_after = poll(w, w.fetch, o) end
  else
    task, retry_after = poll(w, w.fetch, o)
  end
  if task and task.state ~= before then note_change(w, task, o, before) end
  task = task or w.task
  if task then
    local satisfied = o["until"](task) and true or false
    local enough = satisfied
    if o.stable > 1 then
      local hits = satisfied and (w.hits or 0) + 1 or 0
      w.hits, enough = hits, hits >= o.stable
    end
    -- A terminal task will not change again: `stable` cannot apply to it.
    if enough or task.done then return finish(w, task, o, satisfied) end
  end
  local d = next_delay(w, o, retry_after)
  -- Made only when it is logged: below the log level it is two strings per poll for nothing.
  local level = json_mode and "info" or "debug"
  if log_enabled(level) then
    event(level, string.format("%s: poll %d, next in %s", w.label, w.polls, human(d)),
      json_mode and about_task({ event = "poll", state = task and task.state, polls = w.polls,
      delay = seconds(d) }, task))
  end
  return nil, d
end

-- ---- the journal ----------------------------------------------------------------------------

-- A wait is a step keyed by ("wait:" .. its label, n): its absolute deadline (epoch seconds: a
-- resumed run is another process) is journaled when it begins, so a resumed wait goes on with
-- the time that was left; its end state is journaled when it ends, never its polls.
local wait_counts = {}

-- Returns the wait's deadline on taskrun.now()'s clock and its journal record (nil when the
-- run is not journaled).
local function begin_record(label, timeout)
  if not journal.journaled() then return core.now() + timeout, nil end
  local key = "wait:" .. label
  local n = (wait_counts[key] or 0) + 1
  wait_counts[key] = n
  -- Only a wait that was still going when the run stopped goes on with its deadline; one that
  -- ended (and is waited on again by a resumed runbook) gets a timeout of its own. A run on its
  -- first attempt has nothing in the journal to look up.
  local state, result
  if journal.resumed() then state, result = journal.get(key, n) end
  local old = state == "started" and result and json.decode(result)
  local rec = { key = key, n = n }
  if old and type(old.deadline) == "number" then
    rec.deadline = old.deadline
    local left = math.max(0, rec.deadline - journal.wall())
    event("info", string.format("%s: resumed with %s left of its timeout", label, human(left)),
      { event = "resumed", label = label, deadline = seconds(rec.deadline),
        left = seconds(left) })
  else
    rec.deadline = journal.wall() + timeout
    journal.started(key, n, json.encode({ deadline = rec.deadline }))
  end
  return core.now() + (rec.deadline - journal.wall()), rec
end

local task_state = provider.task_state

-- Records how the wait ended (unless a signal or --timeout interrupted it: then it stays
-- begun, and a resume goes on with its deadline), and returns or raises as it ended.
local function end_record(rec, ok, result, tasks)
  if rec and not (not ok and journal.stopping()) then
    if ok then
      journal.finished(rec.key, rec.n, json.encode({ deadline = rec.deadline, task = tasks }))
    else
      local e = type(result) == "table" and result or { message = tostring(result) }
      journal.failed(rec.key, rec.n, json.encode({ deadline = rec.deadline,
        kind = e.kind and tostring(e.kind), message = tostring(e.message),
        task = task_state(e.task) }))
    end
  end
  if not ok then error(result, 0) end
  return result
end

-- --metrics-file's taskrun_waits_total: how each wait ended, by its task's provider. `err` is
-- the error the wait raised; a wait that neither returned nor raised was stopped from outside
-- (a signal, --timeout, wait_all's fail_fast): "interrupted".
local counting, count = core.counting, core.count

local function count_wait(w, err)
  local outcome = w.outcome or "interrupted"
  if err ~= nil then
    outcome = type(err) == "table" and type(err.kind) == "string" and err.kind or "error"
  end
  local task = w.task
  count("waits", type(task) == "table" and type(task.provider) == "string" and task.provider
    or "unknown", outcome)
end

-- Ends a wait's presence in the interrupt message and the status block, and counts how it
-- ended (`err`: what it raised, if anything).
local function end_wait(w, err)
  active[w] = nil
  status.remove(w)
  if counting then count_wait(w, err) end
end

-- Every wait's state shares this metatable: its label ("bluexp task 1234", or the wait's
-- name before a task answers) is made when first read and kept until another task answers (a
-- --quiet run of 10,000 waits reads few), and a single wait's state is its own to-be-closed
-- guard.
local Wait = { __close = end_wait }
function Wait.__index(w, key)
  if key ~= "label" then return nil end
  local task = rawget(w, "task")
  local label = label_of(task, rawget(w, "name"))
  if type(task) == "table" and task.provider then rawset(w, "label", label) end
  return label
end

-- A wait's state: what to poll, what it has seen and counted, and its jitter's generator,
-- seeded with `seed` (each target of wait_all/wait_any gets its own, or they would all sleep the
-- same delays and poll in step). The fields every wait comes to have are named here (label
-- among them, though it is made later), so its table is made at its size once: 10,000 idle
-- waits hold 10,000 of them. The rarer ones (last, expiring, missing_since, hits with stable >
-- 1) grow it when they come.
local function new_wait(target, o, seed, deadline, i)
  local fetch, first = fetcher(target)
  local now = core.now()
  return setmetatable({ label = nil, name = o.name, task = first, fetch = fetch,
    started = now, polls = 0, counts = {}, last_log = now, outcome = nil,
    rng = backoff.first(seed or math.random(1, 0x7fffffff)), rung = 0, sched = nil,
    deadline = deadline, i = i, due = nil }, Wait)
end

-- The wait is on: in the interrupt message and the status block until end_wait.
local function watch(w)
  active[w] = true
  status.add(w)
end

local function run(w, o)
  while true do
    local task, d = turn(w, o)
    if task then return task end
    core.sleep(d)
  end
end

local function wait_one(target, o)
  local w = new_wait(target, o, o.seed, false)
  local rec
  w.deadline, rec = begin_record(w.label, o.timeout)
  watch(w)
  local guard <close> = w
  if not rec then return run(w, o) end
  local ok, result = pcall(run, w, o)
  return end_record(rec, ok, result, ok and task_state(result) or nil)
end

-- taskrun.wait(target, opts) -> Task
function wait.wait(target, opts)
  return wait_one(target, check_options(opts))
end

-- ---- many waits ---------------------------------------------------------------------------

-- At most this many waits of one wait_all/wait_any take their turn at once, each in a worker
-- task; the others are their state alone, in the due queue, until a worker is free. Requests
-- past the per-host limit (TASKRUN_MAX_INFLIGHT, 32 by default) queue in taskrun.http anyway;
-- this bounds that queue, and what it holds (a worker's coroutine and its call chain are a few
-- KB), while leaving room for eight hosts polled at their full limit.
local WORKERS = 256

-- Turns fall due on a grid of SLACK seconds (a due time is rounded up to the next multiple)
-- when their delay is at least 10 times that: waits due within the same 20 ms wake together,
-- one timer tick and one burst of requests rather than one each. A poll is at most 20 ms late:
-- 10% of a 0.2 s delay, 2% of a 1 s one, inside the jitter (x0.5 to x1) either way; a shorter
-- delay, and the turn at the deadline, are kept exactly. Measured on bench/fanout.lua 10000 (1 s to 4 s delays), five
-- alternating runs each: taskrun's CPU 3.48 s -> 3.05 s (medians), a grid of 50 ms no better.
local SLACK = 0.02

local function coalesced(at, d)
  if d < 10 * SLACK then return at end
  return math.ceil(at / SLACK) * SLACK
end

-- What a fan-out leaves when it ends, normally or not (fail_fast, wait_any's winner, or the
-- calling task cancelled): no worker left running, and every wait not ended (pool.waits
-- holds those only) counted as interrupted.
local Pool = { __close = function(pool)
  pool.stopped = true
  for _, h in ipairs(pool.workers) do h:cancel() end
  for _, w in pairs(pool.waits) do end_wait(w, nil) end
  pool.waits = {}
end }

-- Runs one wait per target under one deadline, their turns taken by at most WORKERS worker
-- tasks in the order they fall due. `decide(i, ok, result)` sees each end and returns true to
-- stop the others.
local function fan_out(targets, o, decide)
  if type(targets) ~= "table" or #targets == 0 then usage("targets must be a non-empty list") end
  local deadline, rec = begin_record(o.name or string.format("%d targets", #targets), o.timeout)
  local queue = due.new()
  local pool <close> = setmetatable({ waits = {}, workers = {}, stopped = false }, Pool)
  local now = core.now()
  for i, target in ipairs(targets) do
    local ok, w = pcall(new_wait, target, o, o.seed and o.seed + i - 1, deadline, i)
    if not ok then
      if decide(i, false, w) then return rec end
    else
      pool.waits[i] = w
      watch(w)
      queue:push(w, now)
    end
  end
  local workers = pool.workers
  local function worker(k)
    while not pool.stopped do
      local w = queue:pop()
      if not w then return end   -- every wait left is another worker's
      local early = w.due - core.now()
      if early > 0 then core.sleep(early) end
      local ok, task, d = pcall(turn, w, o)
      if ok and not task then
        queue:push(w, w.expiring and core.now() + d or coalesced(core.now() + d, d))
      else
        pool.waits[w.i] = nil
        end_wait(w, not ok and task or nil)
        if decide(w.i, ok, task) then
          pool.stopped = true
          for j, h in ipairs(workers) do
            if j ~= k then h:cancel() end
          end
          return
        end
      end
    end
  end
  for k = 1, math.min(queue.n, WORKERS) do workers[k] = core.spawn(worker, k) end
  for _, h in ipairs(workers) do pcall(h.join, h) end
  return rec
end

local function wrap_failure(err, i, total)
  if type(err) ~= "table" then return err end
  err.index = i
  err.message = string.format("target %d of %d: %s", i, total, tostring(err.message))
  return err
end

-- taskrun.wait_all(targets, opts) -> { Task... } in the order given; stops at the first
-- failure (opts.fail_fast = false waits for every target first, and the error it raises has
-- every target's final Task in `tasks`, in order: false for a target that never gave one).
function wait.wait_all(targets, opts)
  local o = check_options(opts)
  local results, first_err, first_i = {}, nil, nil
  local finals = o.fail_fast == false and {} or nil
  local rec = fan_out(targets, o, function(i, ok, result)
    if ok then results[i] = result end
    if finals then
      -- A failed wait's error holds the last Task it saw.
      finals[i] = ok and result or type(result) == "table" and result.task or false
    end
    if ok then return false end
    if not first_err then first_err, first_i = result, i end
    return o.fail_fast ~= false
  end)
  -- Level 0: a string error carries its location already, a table needs none.
  if first_err then
    local err = wrap_failure(first_err, first_i, #targets)
    if finals and type(err) == "table" then
      local tasks = {}
      for i = 1, #targets do tasks[i] = finals[i] or false end
      err.tasks = tasks
    end
    end_record(rec, false, err)
  end
  local ends = {}
  for i, t in ipairs(results) do ends[i] = task_state(t) end
  return end_record(rec, true, results, ends)
end

-- taskrun.wait_any(targets, opts) -> Task, index: the first target to satisfy `until`. It
-- fails only when every target has failed (with the first failure).
function wait.wait_any(targets, opts)
  local o = check_options(opts)
  local winner, win_i, errs, first_i = nil, nil, 0, nil
  local first_err
  local rec = fan_out(targets, o, function(i, ok, result)
    if ok and not winner then winner, win_i = result, i return true end
    if not ok then
      errs = errs + 1
      if not first_err then first_err, first_i = result, i end
      -- a timeout is shared by all: stop at the first one
      return type(result) == "table" and result.kind == "timeout"
    end
    return false
  end)
  if winner then return end_record(rec, true, winner, task_state(winner)), win_i end
  end_record(rec, false, wrap_failure(first_err, first_i, #targets))
end

return wait
