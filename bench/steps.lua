-- Steps benchmark: N explicit taskrun.step calls, each a trivial function with a small result,
-- to measure what journaling a step costs (a "started" row and a "finished" row, each a
-- durable commit).
--
--   ./taskrun --state-dir DIR bench/steps.lua [N]      (journaled; default N = 1000)
--   ./taskrun --no-journal bench/steps.lua [N]         (the baseline)
--
-- Prints wall time and CPU time of taskrun (os.clock) for the loop. Each journaled run must be
-- a new run: start it with --fresh, or a resumed run would replay the recorded results.
local n = math.tointeger(tonumber(arg[1] or "1000"))
local t0, c0 = taskrun.now(), os.clock()
local sum = 0
for i = 1, n do
  sum = sum + taskrun.step("item", function(x) return { value = x, name = "item" } end, i).value
end
assert(sum == n * (n + 1) // 2)
print(string.format("%d steps: wall %.3fs, cpu %.3fs, journaled %s", n, taskrun.now() - t0,
  os.clock() - c0, tostring(taskrun.run.id ~= nil)))
