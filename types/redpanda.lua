---@meta taskrun.redpanda
-- taskrun.redpanda: Redpanda Cloud's data-plane mount tasks (REDPANDA_DATAPLANE_URL; a token,
-- or a service account's REDPANDA_CLIENT_ID and REDPANDA_CLIENT_SECRET). A mount task is
-- deleted once it finishes: a 404 after it was seen is checked against the topic list.

---@class taskrun.redpanda
---@field wait_defaults {interval: number, max_interval: number} Its wait schedule (a copy).
taskrun.redpanda = {}

---@class taskrun.redpanda.ClientOptions: taskrun.ClientOptions
---@field client_id? string A service account's client id (else REDPANDA_CLIENT_ID).
---@field client_secret? string Its secret (else REDPANDA_CLIENT_SECRET).
---@field auth_url? string The token endpoint (else REDPANDA_AUTH_URL, or Redpanda's).

---@class taskrun.redpanda.TopicsOptions
---@field name_contains? string Only the topics whose name contains this.
---@field page_size? integer Topics per page (every page is followed).

---A topic to mount: its name, or its source reference and an alias.
---@alias taskrun.redpanda.Topic string|{source_topic_reference: string, alias?: string}

---An explicit client.
---@param opts? taskrun.redpanda.ClientOptions
---@return taskrun.redpanda.Client
function taskrun.redpanda.client(opts) end

---The mount task `id`.
---@param id integer|string An integer, or a string of decimal digits.
---@return taskrun.Task
function taskrun.redpanda.mount_task(id) end

---Every mount task.
---@return taskrun.Task[]
function taskrun.redpanda.mount_tasks() end

---Mounts topics (a step of its own in a journaled run).
---@param list taskrun.redpanda.Topic[]
---@return taskrun.Task
function taskrun.redpanda.mount_topics(list) end

---Unmounts topics (a step of its own in a journaled run).
---@param names string[]
---@return taskrun.Task
function taskrun.redpanda.unmount_topics(names) end

---Moves a mount task on (a step of its own in a journaled run).
---@param id integer|string
---@param action "prepare"|"execute"|"finish"|"cancel"
---@return taskrun.Task
function taskrun.redpanda.update_mount_task(id, action) end

---Deletes a mount task (a step of its own in a journaled run).
---@param id integer|string
---@return true
function taskrun.redpanda.delete_mount_task(id) end

---The cluster's topic names (every page followed, at most 1,000 pages).
---@param opts? taskrun.redpanda.TopicsOptions
---@return string[] names
function taskrun.redpanda.topics(opts) end

---A client made by `taskrun.redpanda.client{}`: the module's functions as methods.
---@class taskrun.redpanda.Client
local Client = {}

---@param id integer|string
---@return taskrun.Task
function Client:mount_task(id) end

---@return taskrun.Task[]
function Client:mount_tasks() end

---@param list taskrun.redpanda.Topic[]
---@return taskrun.Task
function Client:mount_topics(list) end

---@param names string[]
---@return taskrun.Task
function Client:unmount_topics(names) end

---@param id integer|string
---@param action "prepare"|"execute"|"finish"|"cancel"
---@return taskrun.Task
function Client:update_mount_task(id, action) end

---@param id integer|string
---@return true
function Client:delete_mount_task(id) end

---@param opts? taskrun.redpanda.TopicsOptions
---@return string[] names
function Client:topics(opts) end
