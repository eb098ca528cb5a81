---@meta taskrun.astra
-- taskrun.astra: Astra Control's tasks and app backups (ASTRA_URL, ASTRA_TOKEN,
-- ASTRA_ACCOUNT_ID).

---@class taskrun.astra
taskrun.astra = {}

---@class taskrun.astra.ClientOptions: taskrun.ClientOptions
---@field account? string The account id (else ASTRA_ACCOUNT_ID).

---@class taskrun.astra.TasksOptions
---@field filter? string|string[]|table<string, string> A filter, a list (all hold), { k = v }.
---@field include? string[] The fields to return.
---@field limit? integer Items per page (every page is followed, at most 1,000).

---@class taskrun.astra.BackupOptions
---@field name? string The backup's name (else one taskrun derives from the run and the step).

---An explicit client.
---@param opts? taskrun.astra.ClientOptions
---@return taskrun.astra.Client
function taskrun.astra.client(opts) end

---The task `task_id`.
---@param task_id string
---@return taskrun.Task
function taskrun.astra.task(task_id) end

---The account's tasks.
---@param opts? taskrun.astra.TasksOptions
---@return taskrun.Task[]
function taskrun.astra.tasks(opts) end

---Backs up an app (a step of its own in a journaled run).
---@param app_id string
---@param opts? taskrun.astra.BackupOptions
---@return taskrun.Task
function taskrun.astra.backup(app_id, opts) end

---A client made by `taskrun.astra.client{}`: the module's functions as methods.
---@class taskrun.astra.Client
local Client = {}

---@param task_id string
---@return taskrun.Task
function Client:task(task_id) end

---@param opts? taskrun.astra.TasksOptions
---@return taskrun.Task[]
function Client:tasks(opts) end

---@param app_id string
---@param opts? taskrun.astra.BackupOptions
---@return taskrun.Task
function Client:backup(app_id, opts) end
