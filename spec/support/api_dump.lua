-- Run by taskrun (spec/definitions_spec.lua): prints the real runbook API, one line each,
--   member <TAB> class <TAB> name <TAB> Lua type     what a module, object or client has
--   option <TAB> class <TAB> name                    what an options table may hold
-- for the spec to compare with the language server definitions in types/.
local function emit(...)
  print(table.concat({ ... }, "\t"))
end

local function members(class, t, only_functions)
  for k, v in pairs(t) do
    if type(k) == "string" and not k:find("^__") and (not only_functions or type(v) == "function")
    then
      emit("member", class, k, type(v))
    end
  end
end

local function upvalue(fn, name)
  for i = 1, 255 do
    local n, v = debug.getupvalue(fn, i)
    if n == nil then break end
    if n == name then return v end
  end
  error("no upvalue " .. name)
end

local providers = {}
for name in pairs(require("taskrun._provider")) do providers[#providers + 1] = name end
table.sort(providers)

-- The modules, through the global as a runbook reaches them (submodules load on first use).
for _, m in ipairs({ "http", "json" }) do local _ = taskrun[m] end
for _, p in ipairs(providers) do local _ = taskrun[p] end
members("taskrun", taskrun)
members("taskrun.log", taskrun.log)
members("taskrun.run", taskrun.run)
members("taskrun.http", taskrun.http)
members("taskrun.json", taskrun.json)
for _, p in ipairs(providers) do members("taskrun." .. p, taskrun[p]) end

-- Objects: a Task, a task's handle, an HTTP response, each provider's client.
members("taskrun.Task", require("taskrun.provider").Task, true)
local h = taskrun.spawn(function() end)
-- Its __index is a C closure over the methods (runtime/sched.c), `id` answered by the closure.
members("taskrun.Handle", select(2, debug.getupvalue(getmetatable(h).__index, 1)), true)
emit("member", "taskrun.Handle", "id", type(h.id))
h:join()
members("taskrun.http.Response", upvalue(taskrun.http.request, "Response"), true)
for _, p in ipairs(providers) do
  local c = taskrun[p].client({ url = "http://127.0.0.1:9", token = "api-dump-token-0123456789",
                                account = "a", agent_id = "g" })
  for k, v in pairs(c) do
    -- decorate: the provider's header hook (provider.module), not a method
    if type(v) == "function" and k ~= "decorate" then
      emit("member", "taskrun." .. p .. ".Client", k, "function")
    end
  end
end

-- Options: what taskrun.wait accepts (stdlib/taskrun/wait.lua's two lists).
local check_options = upvalue(require("taskrun.wait").wait, "check_options")
for k in pairs(upvalue(check_options, "defaults")) do emit("option", "taskrun.WaitOptions", k) end
for k in pairs(upvalue(check_options, "extra_options")) do
  emit("option", "taskrun.WaitOptions", k)
end

-- A client's: the common ones provider.new_client reads, the descriptor's settings and its
-- credential flow's options.
local GRANT_OPTIONS = {
  client_credentials = { "client_id", "client_secret", "auth_url" },
  client_credentials_basic = { "client_id", "client_secret", "auth_url" },
  refresh_token = { "refresh_token", "client_id", "auth_url" },
}
for _, p in ipairs(providers) do
  local spec = require("taskrun._provider")[p]
  local class = "taskrun." .. p .. ".ClientOptions"
  for _, k in ipairs({ "url", "token", "timeout", "headers", "max_inflight", "rate" }) do
    emit("option", class, k)
  end
  for _, s in ipairs(spec.settings) do emit("option", class, s.option) end
  for _, k in ipairs(GRANT_OPTIONS[spec.credentials.grant] or {}) do emit("option", class, k) end
  -- and what the provider's own module reads of them (Keycard's request_id)
  local f = assert(io.open("stdlib/taskrun/" .. p .. ".lua"))
  for k in f:read("a"):gmatch("c%.options%.([%w_]+)") do emit("option", class, k) end
  f:close()
end
