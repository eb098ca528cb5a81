---@meta taskrun.keycard
-- taskrun.keycard: Keycard's catalog tasks and installs (KEYCARD_API_URL; KEYCARD_TOKEN, or
-- KEYCARD_CLIENT_ID and KEYCARD_CLIENT_SECRET). A completed task answers 303 See Other: that
-- is the answer (`install_url`, `install_id`), never followed.

---@class taskrun.keycard
taskrun.keycard = {}

---@class taskrun.keycard.ClientOptions: taskrun.ClientOptions
---@field client_id? string A service account's client id (else KEYCARD_CLIENT_ID).
---@field client_secret? string Its secret (else KEYCARD_CLIENT_SECRET).
---@field auth_url? string The token endpoint (else {url}/service-account-token).
---@field request_id? boolean false: no X-Client-Request-ID header on requests.

---What `install` installs.
---@class taskrun.keycard.InstallSpec
---@field package_id string
---@field inputs? table The package's inputs.
---@field version? string

---An explicit client.
---@param opts? taskrun.keycard.ClientOptions
---@return taskrun.keycard.Client
function taskrun.keycard.client(opts) end

---The catalog task `task_id` of zone `zone_id`.
---@param zone_id string
---@param task_id string
---@return taskrun.Task
function taskrun.keycard.catalog_task(zone_id, task_id) end

---Installs a package in a zone (a step of its own in a journaled run).
---@param zone_id string
---@param spec taskrun.keycard.InstallSpec
---@return taskrun.Task
function taskrun.keycard.install(zone_id, spec) end

---Uninstalls an install (a step of its own in a journaled run).
---@param zone_id string
---@param install_id string
---@return taskrun.Task
function taskrun.keycard.uninstall(zone_id, install_id) end

---The install, as the vendor's object.
---@param zone_id string
---@param install_id string
---@return table install
function taskrun.keycard.get_install(zone_id, install_id) end

---A client made by `taskrun.keycard.client{}`: the module's functions as methods.
---@class taskrun.keycard.Client
local Client = {}

---@param zone_id string
---@param task_id string
---@return taskrun.Task
function Client:catalog_task(zone_id, task_id) end

---@param zone_id string
---@param spec taskrun.keycard.InstallSpec
---@return taskrun.Task
function Client:install(zone_id, spec) end

---@param zone_id string
---@param install_id string
---@return taskrun.Task
function Client:uninstall(zone_id, install_id) end

---@param zone_id string
---@param install_id string
---@return table install
function Client:get_install(zone_id, install_id) end
