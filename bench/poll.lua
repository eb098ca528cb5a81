-- Sequential poll benchmark: one runbook reads one simulator task N times in a row, through
-- the real provider module (taskrun.bluexp.job), one request at a time.
--
--   ./taskrun --sim --quiet --no-journal bench/poll.lua [N [JOB]]   (default N = 3000)
--
-- Without JOB it makes a BlueXP job in the simulator (TASKRUN_SIM_URL) that stays
-- IN_PROGRESS, so every read is the same 200 and the same body; with JOB it reads that job of
-- the simulator BLUEXP_URL points at (bench/poll.sh makes one and gives every client the same).
-- One read first, untimed: the token, the connection and the modules are had before the clock
-- starts. Prints one row:
--   taskrun N wall_s cpu_s cpu_us_per_poll polls_per_s
-- (cpu: os.clock, the CPU time of the whole taskrun process; the simulator runs apart.)
-- Under callgrind the difference between N and 0 polls, over N, is the instructions per poll.
local n = math.tointeger(tonumber(arg[1] or "3000"))
assert(n and n >= 0, "usage: poll.lua [N [JOB]] (N: a count of polls)")
local id = arg[2]
if not id then
  local sim = assert(os.getenv("TASKRUN_SIM_URL"), "run this under taskrun --sim, or give JOB")
  local made = taskrun.http.request({ method = "POST", url = sim .. "/_sim/tasks",
    json = { provider = "bluexp", mode = "poll", steps = { "IN_PROGRESS" } } })
  assert(made.status == 201, "the simulator refused the job: " .. made.body)
  id = made:json().tasks[1].id
end

local job = taskrun.bluexp.job
assert(job(id).state == "IN_PROGRESS", "the job is not IN_PROGRESS")
local t0, c0 = taskrun.now(), os.clock()
for _ = 1, n do
  if job(id).state ~= "IN_PROGRESS" then error("the job left IN_PROGRESS") end
end
local wall, cpu = taskrun.now() - t0, os.clock() - c0
print(string.format("taskrun %d %.4f %.4f %.1f %.0f", n, wall, cpu,
  n > 0 and cpu / n * 1e6 or 0, n > 0 and n / wall or 0))
