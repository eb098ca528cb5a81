-- taskrun.bluexp: NetApp BlueXP backup-and-recovery restore jobs (descriptor: bindings/bluexp.c).
--
-- Quirks handled here: x-agent-id needs the Connector id with its "clients" suffix (added once
-- when missing); `job` is documented as an array but comes back as a single object too;
-- restore/status takes no id, so restore_job picks the job from the list.
local provider = require("taskrun.provider")
local core = require("taskrun._core")

local m = {}

local function jobs_of(body)
  local job = body.job
  if type(job) ~= "table" then return {} end
  if job.id ~= nil or job.status ~= nil then return { job } end
  return job
end

local function check_id(job_id, what)
  if (type(job_id) ~= "string" or job_id == "") and math.type(job_id) ~= "integer" then
    error(core.error("usage", "bluexp." .. what .. " needs a job id"), 3)
  end
  return tostring(job_id)
end

function m.job(c, job_id)
  job_id = check_id(job_id, "job")
  local res = c:send("job", { id = job_id })
  local job = jobs_of(c:body(res, 2))[1]
  if not job then
    error(core.error("not_found", string.format("bluexp: GET %s answered no job for %s; check "
      .. "the job id", res.url, job_id), { provider = "bluexp", status = res.status }), 2)
  end
  return c:make_task(job, function() return m.job(c, job_id) end)
end

function m.restore_jobs(c)
  local tasks = {}
  for i, job in ipairs(jobs_of(c:body(c:send("restore_status"), 2))) do
    local id = job.id
    tasks[i] = c:make_task(job, function() return m.restore_job(c, id) end)
  end
  return tasks
end

function m.restore_job(c, job_id)
  job_id = check_id(job_id, "restore_job")
  for _, task in ipairs(m.restore_jobs(c)) do
    if tostring(task.id) == job_id then return task end
  end
  error(core.error("not_found", "bluexp: restore job " .. job_id .. " is not in the restore "
    .. "status list; check the job id, or use bluexp.job(id)", { provider = "bluexp" }), 2)
end

-- Starts a restore (POST .../api/v{version}/restore, version 2 unless given) and returns its
-- job's Task. The POST is never repeated: if reading the job fails, the error carries its id.
function m.start_restore(c, body, opts)
  local version = (opts or {}).version or 2
  if version ~= 1 and version ~= 2 and version ~= 3 then
    error(core.error("usage", "bluexp.start_restore: version must be 1, 2 or 3"), 2)
  end
  if type(body) ~= "table" then
    error(core.error("usage", "bluexp.start_restore needs the restore body, { restore = {...} }"), 2)
  end
  local answer = c:body(c:send("restore_v" .. version, nil, { json = body }), 2)
  local job_id = answer["job-id"]
  if job_id == nil then
    error(core.error("decode", "bluexp: the restore was accepted without a job-id",
      { provider = "bluexp" }), 2)
  end
  local ok, task = pcall(m.job, c, job_id)
  if ok then return task end
  if type(task) == "table" then
    task.task_id = job_id
    task.message = string.format("the restore started as job %s, but reading it failed: %s; "
      .. "poll it with bluexp.job(%q)", tostring(job_id), task.message, tostring(job_id))
  end
  error(task, 2)
end

local function decorate(c, headers)
  local agent = c.agent_id
  if agent:sub(-7) ~= "clients" then agent = agent .. "clients" end
  headers["x-agent-id"] = agent
end

return provider.module("bluexp", m, decorate)
