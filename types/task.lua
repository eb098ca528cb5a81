---@meta taskrun.Task
-- The Task: a snapshot of one vendor task, the same shape for every provider.

---@alias taskrun.Status "pending"|"running"|"paused"|"succeeded"|"failed"|"cancelled"|"unknown"

---A snapshot of one vendor task.
---@class taskrun.Task
---@field provider "redpanda"|"keycard"|"astra"|"bluexp"
---@field id string|integer An integer for Redpanda, a string otherwise.
---@field state string The vendor's own state, unchanged ("STATE_EXECUTING", "IN_PROGRESS").
---@field status taskrun.Status The state, normalized.
---@field done boolean Terminal?
---@field ok boolean Succeeded?
---@field progress? number 0..100 (Astra's percentDone).
---@field message? string The vendor's error or detail text.
---@field raw table The decoded vendor object (decoded when first read, from a body of 4 KiB or less).
---@field install_url? string Keycard: the 303's Location.
---@field install_id? string Keycard: the install the 303 points at.
---@field verified? boolean Redpanda: a finished task's success checked against the topic list.
---@field inferred? boolean Redpanda: success inferred from a 404 after a late state.
local Task = {}

---A fresh snapshot of the same task.
---@return taskrun.Task
function Task:refresh() end

---`taskrun.wait(task, opts)`.
---@param opts? taskrun.WaitOptions
---@return taskrun.Task
function Task:wait(opts) end
