-- The `taskrun` module, also the global `taskrun` in every runbook. Submodules load on first
-- use: taskrun.http, taskrun.json, ...
local core = require("taskrun._core")

local taskrun = {
  version = core.version,
  sleep = core.sleep,
  spawn = core.spawn,
  yield = core.yield,
  now = core.now,
  duration = core.duration,
  log = core.log,
  error = core.error,
  secret = core.secret,
  uuid = core.uuid,
  args = {},
}

-- Waiting lives in taskrun.wait; these load it on first use.
function taskrun.wait(target, opts) return require("taskrun.wait").wait(target, opts) end
function taskrun.wait_all(targets, opts) return require("taskrun.wait").wait_all(targets, opts) end
function taskrun.wait_any(targets, opts) return require("taskrun.wait").wait_any(targets, opts) end

-- Durable steps live in taskrun.step (loaded on first use too).
function taskrun.step(name, fn, ...) return require("taskrun.step").step(name, fn, ...) end

-- The stdlib's own submodules, and one per provider descriptor (bindings/providers.def).
local submodules = { http = true, json = true }
for name in pairs(require("taskrun._provider")) do submodules[name] = true end

return setmetatable(taskrun, {
  __index = function(t, name)
    if submodules[name] then
      local mod = require("taskrun." .. name)
      rawset(t, name, mod)
      return mod
    end
  end,
})
