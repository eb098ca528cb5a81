-- taskrun.step(name, fn, ...): fn(...) runs until it finishes once per run. Its results are
-- journaled before the runbook goes on; a resumed run gets them back without running fn. They
-- are data: a Task (any table with a metatable) comes back as the plain table of its fields, on
-- the first run as on a resume. A
-- step killed while fn ran has no end in the journal and runs again (at least once).
--
-- Steps are keyed by (name, n): the n-th call of that name in this run, whatever order
-- concurrent tasks ran in. Results are stored as {"n": count, "v": [values, null for nil]}, so
-- `return 1, nil, 3` comes back whole; errors as {"kind", "message", "fields"} (the error's
-- JSON-encodable fields) or {"message"} for a string error.
local core = require("taskrun._core")
local journal = require("taskrun._journal")
local json = require("taskrun.json")

local step = {}

local function usage(msg)
  error(core.error("usage", "taskrun.step: " .. msg), 3)
end

local function decode_results(text)
  local r = json.decode(text)
  local v = r.v or {}
  for i = 1, r.n do
    if v[i] == json.null then v[i] = nil end
  end
  return table.unpack(v, 1, r.n)
end

-- What the journal keeps of an error: its kind, message and the fields JSON can hold (the
-- provider calls of calls.lua keep their errors the same way).
function step.encode_error(err)
  if type(err) ~= "table" then return json.encode({ message = tostring(err) }) end
  local fields = {}
  for k, x in pairs(err) do
    if type(k) == "string" and k ~= "kind" and k ~= "message" and pcall(json.encode, { x }) then
      fields[k] = x
    end
  end
  return json.encode({ kind = err.kind and tostring(err.kind), message = tostring(err.message),
                       fields = next(fields) and fields or nil })
end

-- Raises the error `text` (encode_error's) records, as it was: the same kind, message, fields.
function step.raise_recorded(text)
  local ok, e = pcall(json.decode, text)
  if not ok or type(e) ~= "table" then e = { message = tostring(text) } end
  if e.kind == nil then error(e.message, 0) end
  error(core.error(e.kind, e.message, e.fields), 0)
end

-- The journaled step, in C (taskrun._journal's step_runner): it counts the calls of each name,
-- gives a resumed run the recorded results (decode_results) or error (raise_recorded), else
-- records the start, calls fn under protection and records its results or its error. A result
-- that is a table with a metatable (a Task, an object) is journaled as its fields only, and the
-- step returns what a resume would: the plain table, not the object. An error raised because a
-- signal or --timeout is ending the run is not recorded: the step was interrupted, not failed,
-- and a resume runs it again.
local run = journal.step_runner(step.encode_error, decode_results, step.raise_recorded)
local journaled = journal.journaled

function step.step(name, fn, ...)
  if type(name) ~= "string" or name == "" then
    usage("the step's name must be a non-empty string, not "
      .. (name == "" and "\"\"" or type(name)))
  end
  if type(fn) ~= "function" then
    usage(string.format("step \"%s\": the second argument must be a function, not %s", name,
      type(fn)))
  end
  if name:find("^wait:") or name:find("^call:") then
    usage(string.format("step \"%s\": names beginning with \"wait:\" and \"call:\" are taskrun's "
      .. "own (its waits and provider calls); choose another", name))
  end
  if not journaled() then return fn(...) end
  return run(name, fn, ...)
end

return step
