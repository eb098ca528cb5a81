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
    if not provider.is_object(one) then
      c:unexpected(res, one, "a job object", string.format('as job %d in "job"', i), level + 1)
    end
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

-- A JSON value equal to another: same scalars, same fields at any depth.
local function same(x, y)
  if type(x) ~= "table" or type(y) ~= "table" then return x == y end
  for k, v in pairs(x) do if not same(v, y[k]) then return false end end
  for k in pairs(y) do if x[k] == nil then return false end end
  return true
end

-- How much earlier than the step's start a job's creation time may read and still be taken for
-- the step's: the vendor's clock and ours differ a little.
local CLOCK_SKEW = 60

-- bluexp.start_restore(body [, { version = 1|2|3 }]): starts a restore (POST
-- .../api/v{version}/restore, version 2 unless given) and returns its job's Task. The POST is
-- never repeated: if reading the job fails, the error carries its id. In doubt (the answer
-- lost), the restore status list is searched for a job created since the step began with the
-- same source and target.
local restore = {}

function restore.check(c, body, opts)
  local version = (opts or {}).version or 2
  if version ~= 1 and version ~= 2 and version ~= 3 then
    error(core.error("usage", "bluexp.start_restore: version must be 1, 2 or 3"), 4)
  end
  if type(body) ~= "table" then
    error(core.error("usage", "bluexp.start_restore needs the restore body, { restore = {...} }"),
      4)
  end
end

function restore.send(c, body, opts)
  local res = c:send("restore_v" .. ((opts or {}).version or 2), nil, { json = body })
  local answer = c:body(res, 2, "an object with a job-id")
  local job_id = answer["job-id"]
  if (type(job_id) ~= "string" or job_id == "") and math.type(job_id) ~= "integer" then
    c:unexpected(res, job_id, "the job's id", 'in "job-id"', 2, nil, "the restore may have "
      .. "started: find it with bluexp.restore_jobs() before starting it again")
  end
  return job_id
end

function restore.task(c, job_id)
  local ok, task = pcall(m.job, c, job_id)
  if ok then return task end
  if type(task) == "table" then
    task.task_id = job_id
    task.message = string.format("the restore started as job %s, but reading it failed: %s; "
      .. "poll it with bluexp.job(%s)", provider.quote(job_id), tostring(task.message),
      provider.quote(job_id))
  end
  error(task, 3)
end

function restore.reconcile(c, since, body)
  local want = type(body.restore) == "table" and body.restore or {}
  local found = {}
  for _, task in ipairs(m.restore_jobs(c)) do
    local raw = task.raw or {}
    local data = type(raw.data) == "table" and type(raw.data.restore) == "table"
      and raw.data.restore or {}
    if type(raw.time) == "number" and raw.time >= (since - CLOCK_SKEW) * 1000
        and same(data.source, want.source) and same(data.target, want.target) then
      found[#found + 1] = { id = task.id, task = task, words = string.format("job %s (%s, "
        .. "created %s)", provider.quote(task.id), tostring(task.state),
        os.date("!%Y-%m-%dT%H:%M:%SZ", raw.time // 1000)) }
    end
  end
  return found, true
end

local function decorate(c, headers)
  local agent = c.agent_header
  if not agent then
    agent = c.agent_id
    if agent:sub(-7) ~= "clients" then agent = agent .. "clients" end
    c.agent_header = agent
  end
  headers["x-agent-id"] = agent
end

return provider.module("bluexp", m, decorate, { calls = { start_restore = restore } })
