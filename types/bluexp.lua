---@meta taskrun.bluexp
-- taskrun.bluexp: BlueXP backup and recovery's restore jobs (BLUEXP_URL; BLUEXP_TOKEN or
-- BLUEXP_REFRESH_TOKEN; BLUEXP_ACCOUNT_ID, BLUEXP_AGENT_ID).

---@class taskrun.bluexp
taskrun.bluexp = {}

---@class taskrun.bluexp.ClientOptions: taskrun.ClientOptions
---@field account? string The account id (else BLUEXP_ACCOUNT_ID).
---@field agent_id? string The Connector id (else BLUEXP_AGENT_ID; "clients" is appended).
---@field refresh_token? string A refresh token (else BLUEXP_REFRESH_TOKEN).
---@field client_id? string The token endpoint's client id (else BLUEXP_AUTH_CLIENT_ID).
---@field auth_url? string The token endpoint (else BLUEXP_AUTH_URL, or NetApp's).

---@class taskrun.bluexp.RestoreOptions
---@field version? 1|2|3 The API version of the restore request (2).

---An explicit client.
---@param opts? taskrun.bluexp.ClientOptions
---@return taskrun.bluexp.Client
function taskrun.bluexp.client(opts) end

---Every restore job.
---@return taskrun.Task[]
function taskrun.bluexp.restore_jobs() end

---The restore job `job_id`.
---@param job_id string
---@return taskrun.Task
function taskrun.bluexp.restore_job(job_id) end

---The job `job_id`.
---@param job_id string
---@return taskrun.Task
function taskrun.bluexp.job(job_id) end

---Starts a restore (a step of its own in a journaled run).
---@param body table The restore request, `{ restore = { type =, source =, target = } }`.
---@param opts? taskrun.bluexp.RestoreOptions
---@return taskrun.Task
function taskrun.bluexp.start_restore(body, opts) end

---A client made by `taskrun.bluexp.client{}`: the module's functions as methods.
---@class taskrun.bluexp.Client
local Client = {}

---@return taskrun.Task[]
function Client:restore_jobs() end

---@param job_id string
---@return taskrun.Task
function Client:restore_job(job_id) end

---@param job_id string
---@return taskrun.Task
function Client:job(job_id) end

---@param body table
---@param opts? taskrun.bluexp.RestoreOptions
---@return taskrun.Task
function Client:start_restore(body, opts) end
