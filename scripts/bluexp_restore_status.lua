-- bluexp_restore_status.lua: print every restore job BlueXP knows, then wait for one to end.
-- Usage: taskrun bluexp_restore_status.lua [JOB_ID]
--   needs BLUEXP_TOKEN, BLUEXP_ACCOUNT_ID, BLUEXP_AGENT_ID (and BLUEXP_URL for another API)
-- Without a job id it starts a small file restore and follows that.
-- Try it without an account: ./taskrun --sim scripts/bluexp_restore_status.lua
local bluexp = taskrun.bluexp

local id = arg[1]
if not id then
  id = bluexp.start_restore({ restore = { type = "file", source = {}, target = {},
    file = { { path = "/dir/a.txt", type = "file" } } } }).id
end

for _, job in ipairs(bluexp.restore_jobs()) do
  print(string.format("restore job %s: %s%s", job.id, job.state,
    job.message and (" (" .. job.message .. ")") or ""))
end

-- restore_job reads the restore status list, so the wait follows the job as that list shows it.
-- A FAILED job raises with BlueXP's error text (exit 3).
local job = taskrun.wait(bluexp.restore_job(id), { interval = "1s", max_interval = "1m",
  timeout = "6h" })
print(string.format("restore job %s: %s, started %s UTC", job.id, job.state,
  os.date("!%Y-%m-%d %H:%M:%S", job.raw.time // 1000)))
