-- taskrun.bluexp: NetApp BlueXP backup-and-recovery restore jobs (descriptor: bindings/bluexp.c).
--
-- Quirks handled here: x-agent-id needs the Connector id with its "clients" suffix (added once
-- when missing); `job` is documented as an array but comes back as a single object too;
-- restore/status takes no id, so restore_job picks the job from the list.
local provider = require("taskrun.provider")
local core = require("taskrun._core")

local m = {}

-- The jobs of an answer: {"job":[...]} as documented, or {"job":{...}} as also seen.
local function jobs_of(c, res, level)
  local body = c:body(res, level + 1, "an object with a job list")
  local job = body.job
  local list = provider.is_object(job) and { job }
    or c:list(res, job, "a job list or a job object", 'in "job"', level + 1)
  for i, one in ipairs(list) do
    c:object(res, one, "a job object", string.format('as job %d in "job"', i), level + 1)
  end
  return list
end

local function check_id(job_id, what)
  if (type(job_id) ~= "string" or job_id == "") and math.type(job_id) ~= "integer" then
    error(core.error("usage", string.format("bluexp.%s needs a job id (a non-empty string), "
      .. "got %s", what, provider.quote(job_id))), 3)
  end
  return tostring(job_id)
end

function m.job(c, job_id)
  job_id = check_id(job_id, "job")
  local res = c:send("job", { id = job_id }, { task_id = job_id })
  local job = jobs_of(c, res, 2)[1]
  if not job then
    error(core.error("not_found", string.format("bluexp: %s %s answered no job for %s; check "
      .. "the job id", res.method, provider.clip(res.url, 200), provider.quote(job_id)),
      c:fields(res)), 2)
  end
  return c:make_task(job, function() return m.job(c, job_id) end)
end

function m.restore_jobs(c)
  local tasks = {}
  local res = c:send("restore_status")
  for i, job in ipairs(jobs_of(c, res, 2)) do
    local id = job.id
    if (type(id) ~= "string" or id == "") and math.type(id) ~= "integer" then
      c:unexpected(res, id, "a job id", string.format('as the id of job %d in "job"', i), 2)
    end
    tasks[i] = c:make_task(job, function() return m.restore_job(c, id) end)
  end
  return tasks
end

function m.restore_job(c, job_id)
  job_id = check_id(job_id, "restore_job")
  for _, task in ipairs(m.restore_jobs(c)) do
    if tostring(task.id) == job_id then return task end
  end
  error(core.error("not_found", "bluexp: restore job " .. provider.quote(job_id) .. " is not "
    .. "in the restore status list; check the job id, or use bluexp.job(id)",
    { provider = "bluexp", task_id = job_id }), 2)
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
  local res = c:send("restore_v" .. version, nil, { json = body })
  local answer = c:body(res, 2, "an object with a job-id")
  local job_id = answer["job-id"]
  if (type(job_id) ~= "string" or job_id == "") and math.type(job_id) ~= "integer" then
    c:unexpected(res, job_id, "the job's id", 'in "job-id"', 2, nil, "the restore may have "
      .. "started: find it with bluexp.restore_jobs() before starting it again")
  end
  local ok, task = pcall(m.job, c, job_id)
  if ok then return task end
  if type(task) == "table" then
    task.task_id = job_id
    task.message = string.format("the restore started as job %s, but reading it failed: %s; "
      .. "poll it with bluexp.job(%s)", provider.quote(job_id), tostring(task.message),
      provider.quote(job_id))
  end
  error(task, 2)
end

local function decorate(c, headers)
  local agent = c.agent_id
  if agent:sub(-7) ~= "clients" then agent = agent .. "clients" end
  headers["x-agent-id"] = agent
end

return provider.module("bluexp", m, decorate)
