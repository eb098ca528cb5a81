-- bluexp_restore_status.lua: print every restore job BlueXP knows, then follow one to its end.
-- Usage: taskrun bluexp_restore_status.lua [JOB_ID]
--        (needs BLUEXP_TOKEN, BLUEXP_ACCOUNT_ID, BLUEXP_AGENT_ID)
local bluexp = taskrun.bluexp

local id = arg[1]
if not id then
  id = bluexp.start_restore({ restore = { type = "file", source = {}, target = {},
    file = { { path = "/dir/a.txt", type = "file" } } } }).id
end
for _, job in ipairs(bluexp.restore_jobs()) do
  print(string.format("%s %s %s", job.id, job.state, job.message or ""))
end
local job = bluexp.restore_job(id)
while not job.done do
  taskrun.sleep("500ms")
  job = job:refresh()
end
print(string.format("job %s: %s (%s) at %d", job.id, job.state, job.status, job.raw.time))
if not job.ok then error(taskrun.error("failed", "restore job ended " .. job.state)) end
