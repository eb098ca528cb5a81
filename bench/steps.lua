-- Steps benchmark: N explicit taskrun.step calls, to measure what journaling a step costs.
--
--   ./taskrun --state-dir DIR --fresh bench/steps.lua [N [BODY]]   (journaled)
--   ./taskrun --no-journal bench/steps.lua [N [BODY]]              (the baseline)
--
-- BODY is what each step's function does:
--   empty     returns a small table: the journal's own cost per step, nothing else
--   request   one GET of the simulator (TASKRUN_SIM_URL, /_sim/delay?ms=0) and a small table
--   provider  one provider read (taskrun.bluexp.job of a job made in the simulator first: run
--             it under taskrun --sim) and a small table: what a runbook's step typically does
-- Prints the loop's wall time and taskrun's CPU time (os.clock) on one line. Each journaled run
-- must be a new run (--fresh), or a resumed run would replay the recorded results.
local n = math.tointeger(tonumber(arg[1] or "1000"))
local body = arg[2] or "empty"
assert(n and n > 0 and (body == "empty" or body == "request" or body == "provider"),
  "usage: steps.lua [N [empty|request|provider]]")
local sim = body ~= "empty" and assert(os.getenv("TASKRUN_SIM_URL"),
  "the " .. body .. " body needs TASKRUN_SIM_URL (a running taskrun-sim)")

local fns = {
  empty = function(i) return { value = i, name = "item" } end,
  request = function(i)
    assert(taskrun.http.get(sim .. "/_sim/delay?ms=0").status == 200)
    return { value = i, name = "item" }
  end,
}
if body == "provider" then
  local made = taskrun.http.request({ method = "POST", url = sim .. "/_sim/tasks",
    json = { provider = "bluexp", mode = "poll", steps = { "IN_PROGRESS" } } })
  local job = assert(made:json().tasks[1].id, "the simulator made no job")
  fns.provider = function(i)
    assert(taskrun.bluexp.job(job).state == "IN_PROGRESS")
    return { value = i, name = "item" }
  end
end
local fn = fns[body]

local t0, c0 = taskrun.now(), os.clock()
local sum = 0
for i = 1, n do sum = sum + taskrun.step("item", fn, i).value end
assert(sum == n * (n + 1) // 2)
print(string.format("steps %d %s wall %.4f cpu %.4f journaled %s", n, body, taskrun.now() - t0,
  os.clock() - c0, tostring(taskrun.run.id ~= nil)))
