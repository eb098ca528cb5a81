---@meta taskrun
-- The global `taskrun`, also `require("taskrun")`: tasks, time, logging, errors, waiting and
-- durable steps. Its submodules load on first use: taskrun.http, taskrun.json and one module
-- per provider (taskrun.redpanda, taskrun.keycard, taskrun.astra, taskrun.bluexp).

---A duration: seconds as a number, or text such as "250ms", "30s", "5m", "1h30m".
---@alias taskrun.Duration number|string

---The runbook API: the global every runbook has.
---@class taskrun
---@field version string The version of taskrun, e.g. "0.1.0".
---@field args string[] The script's arguments (also in `arg` and in `...` of the main chunk).
taskrun = {}

---Runs `fn(...)` as a new task, beside the others on the one event loop.
---@param fn function The task's body.
---@param ... any Its arguments.
---@return taskrun.Handle handle To join or cancel it.
function taskrun.spawn(fn, ...) end

---Waits `d` without blocking the other tasks.
---@param d taskrun.Duration How long.
function taskrun.sleep(d) end

---Lets every other ready task run once.
function taskrun.yield() end

---Monotonic seconds: only differences mean anything.
---@return number seconds
function taskrun.now() end

---`d` in seconds; text that is not a duration raises kind `usage`.
---@param d taskrun.Duration A number, or text like "250ms", "30s", "5m", "1h30m".
---@return number seconds
function taskrun.duration(d) end

---An error table of `kind` with `message` and `fields` (raise it with `error`).
---@param kind taskrun.ErrorKind
---@param message string What failed, and what to do next.
---@param fields? table More fields of the error (status, provider, task_id...).
---@return taskrun.Error err
function taskrun.error(kind, message, fields) end

---Registers `s` (any length) so that it is redacted from every output from now on.
---@param s string The secret.
---@return string s The same string.
function taskrun.secret(s) end

---A random (version 4) UUID, e.g. for request ids.
---@return string uuid
function taskrun.uuid() end

---Polls `target` until it is done: a failed or cancelled end raises kind `failed` or
---`cancelled` (exit 3), the deadline kind `timeout` (exit 4).
---@param target taskrun.Task|fun(): taskrun.Task A Task, or a function returning a fresh one.
---@param opts? taskrun.WaitOptions
---@return taskrun.Task task The last Task seen.
function taskrun.wait(target, opts) end

---Waits for every target, under one deadline; by default the first failure cancels the others
---and raises, naming the target (`index`).
---@param targets (taskrun.Task|fun(): taskrun.Task)[]
---@param opts? taskrun.WaitOptions
---@return taskrun.Task[] tasks In the order of `targets`.
function taskrun.wait_all(targets, opts) end

---Waits until one target is done; fails only when every target failed.
---@param targets (taskrun.Task|fun(): taskrun.Task)[]
---@param opts? taskrun.WaitOptions
---@return taskrun.Task task The first one done.
---@return integer index Its position in `targets`.
function taskrun.wait_any(targets, opts) end

---Runs `fn(...)` once per run and returns its results, journaled: a resumed run gets them back
---without running `fn` again. Results must be JSON-encodable (else kind `usage`).
---@param name string The step's name; the n-th call of a name in a run is its n-th step.
---@param fn function The work.
---@param ... any Its arguments.
---@return any ... What `fn` returned (a Task comes back as the plain table of its fields).
function taskrun.step(name, fn, ...) end

---Log lines on stderr: text, or JSON with `--log-format json`; secrets are redacted.
---@class taskrun.log
taskrun.log = {}

---@param msg string
---@param fields? table<string, any> Key = value pairs, printed after the message.
function taskrun.log.debug(msg, fields) end

---@param msg string
---@param fields? table<string, any> Key = value pairs, printed after the message.
function taskrun.log.info(msg, fields) end

---@param msg string
---@param fields? table<string, any> Key = value pairs, printed after the message.
function taskrun.log.warn(msg, fields) end

---@param msg string
---@param fields? table<string, any> Key = value pairs, printed after the message.
function taskrun.log.error(msg, fields) end

---Whether lines of `level` are printed (`--log-level`, `--quiet`): skip costly fields.
---@param level "debug"|"info"|"warn"|"error"
---@return boolean
function taskrun.log.enabled(level) end

---The journaled run this runbook is (see `taskrun runs`).
---@class taskrun.run
---@field id? string|integer The `--run-id`, else the journal's id; nil with `--no-journal`.
---@field resumed boolean Whether this start resumes an unfinished run.
---@field attempt integer 1 on the first start, one more on each resume.
taskrun.run = {}

---A task made by `taskrun.spawn`.
---@class taskrun.Handle
---@field id integer The task's number.
local Handle = {}

---Waits for the task; returns its results, or raises its error with the task's own traceback.
---@return any ...
function Handle:join() end

---Cancels the task: its wait is abandoned and its `<close>` handlers run.
---@return boolean cancelled True if it was still running.
function Handle:cancel() end

---@return "ready"|"running"|"waiting"|"done"|"failed"|"cancelled"
function Handle:status() end

---The options of `taskrun.wait`, `wait_all`, `wait_any` and `Task:wait`. An option not in this
---list is refused (kind `usage`), and `taskrun --check` reports it.
---@class taskrun.WaitOptions
---@field timeout? taskrun.Duration The deadline, shared by every target (1h).
---@field interval? taskrun.Duration The first delay between polls (2s; Redpanda 1s).
---@field max_interval? taskrun.Duration The cap the delays grow to (30s; Redpanda 5s).
---@field backoff? number The factor each delay grows by (2).
---@field jitter? boolean Each delay scaled by a random factor in [0.5, 1) (true).
---@field until? fun(task: taskrun.Task): boolean What "done" means (`task.done`).
---@field stable? integer How many polls in a row must satisfy `until` (1).
---@field on_change? fun(task: taskrun.Task) Called on every state change.
---@field raise? boolean false: a failed or cancelled end returns the Task instead of raising.
---@field not_found? taskrun.Duration How long a 404 counts as "not there yet" (0).
---@field heartbeat? taskrun.Duration A "still ..." line when nothing changed this long (30s).
---@field max_retry_after? taskrun.Duration The clamp on a server's Retry-After (5m).
---@field fail_fast? boolean `wait_all`: stop at the first failure, cancel the others (true).
---@field seed? integer The jitter's seed, for repeatable delays.
---@field name? string A label for a function target, in the log and in errors.
