-- The language server definitions (types/*.lua) against the real modules: a function added
-- without a definition, or a definition left without its function, fails here. So do the
-- options --check knows (types/ is what it reads) and the options the code takes.
local H = require("harness")
local luals = dofile("tools/luals.lua")

local function types_files()
  local list = { "types/taskrun.lua" }
  local p = io.popen("ls types/*.lua")
  for f in p:lines() do
    if f ~= "types/taskrun.lua" then list[#list + 1] = f end
  end
  p:close()
  return list
end

-- The real API, as spec/support/api_dump.lua prints it from inside taskrun.
local function real_api()
  local r = H.run({ flags = { "--no-journal" }, script_path = "spec/support/api_dump.lua" })
  assert.are.equal(0, r.code, r.stderr)
  local api = { members = {}, options = {} }
  for line in r.stdout:gmatch("[^\n]+") do
    local what, class, name, ty = line:match("^(%a+)\t([^\t]+)\t([^\t]+)\t?(.*)$")
    local into = what == "member" and api.members or api.options
    into[class] = into[class] or {}
    into[class][name] = ty
  end
  return api
end

-- The member `key` of class `name` in the definitions, its parents' included.
local function defined(defs, name, key)
  local c = defs.classes[name]
  while c do
    if c.functions[key] then return "function", c.functions[key] end
    if c.fields[key] then return "field", c.fields[key] end
    c = c.parent and defs.classes[c.parent]
  end
end

local function all_defined(defs, name)
  local out = {}
  local c = defs.classes[name]
  while c do
    for k in pairs(c.functions) do out[k] = out[k] or "function" end
    for k, f in pairs(c.fields) do out[k] = out[k] or f end
    c = c.parent and defs.classes[c.parent]
  end
  return out
end

local function is_module(defs, name)
  for _, cname in pairs(defs.paths) do
    if cname == name then return true end
  end
  return false
end

-- Every difference between the definitions `defs` (luals.read) and the real API, one sentence
-- each, sorted.
local function compare(defs, real)
  local problems = {}
  local function say(fmt, ...) problems[#problems + 1] = string.format(fmt, ...) end
  for class, list in pairs(real.members) do
    if not defs.classes[class] then
      say("%s has no @class in types/", class)
    else
      local module = is_module(defs, class)
      for key, ty in pairs(list) do
        local kind, def = defined(defs, class, key)
        if not kind then
          say("%s.%s (a %s) has no definition in types/", class, key, ty)
        elseif ty == "function" and kind == "field" and not def.type:find("^fun%(") then
          say("%s.%s is a function, but types/ defines a field of type %s", class, key, def.type)
        elseif ty ~= "function" and kind == "function" then
          say("%s.%s is a %s, but types/ defines a function", class, key, ty)
        end
      end
      for key, what in pairs(all_defined(defs, class)) do
        local optional = type(what) == "table" and what.optional
        local only_data = not module and type(what) == "table"   -- an object's data field
        if list[key] == nil and not optional and not only_data then
          say("types/ defines %s.%s, but the real %s has none", class, key, class)
        end
      end
    end
  end
  for class, list in pairs(real.options) do
    if not defs.classes[class] then
      say("options class %s has no @class in types/", class)
    else
      for key in pairs(list) do
        if not defined(defs, class, key) then
          say("option %s of %s is not in types/", key, class)
        end
      end
      for key in pairs(all_defined(defs, class)) do
        if not list[key] then say("types/ defines option %s of %s, which the code ignores", key,
          class) end
      end
    end
  end
  table.sort(problems)
  return problems
end

describe("the language server definitions", function()
  local defs = luals.read(types_files())
  local real = real_api()

  it("define every function and field of the real modules, clients and objects, and no more",
    function()
      assert.are.same({}, compare(defs, real))
    end)

  it("would fail for a function added without a definition, or a definition left alone",
    function()
      local doctored = luals.read(types_files())
      doctored.classes["taskrun.bluexp"].functions.job = nil
      doctored.classes["taskrun.Task"].functions.cancel_all = { params = {}, returns = {} }
      doctored.classes["taskrun.WaitOptions"].fields.timout = { type = "string" }
      assert.are.same({
        "taskrun.bluexp.job (a function) has no definition in types/",
        "types/ defines option timout of taskrun.WaitOptions, which the code ignores",
        "types/ defines taskrun.Task.cancel_all, but the real taskrun.Task has none",
      }, compare(doctored, real))
    end)

  it("list the HTTP options bindings/http.c reads, and json", function()
    local names = H.read_file("bindings/http.c"):match("option_names%[OPT_COUNT%] = {(.-)}")
    local real = { json = true }
    for name in names:gmatch('"([%w_]+)"') do real[name] = true end
    local listed = all_defined(defs, "taskrun.http.Request")
    for k in pairs(real) do assert.is_truthy(listed[k], "http option " .. k .. " not in types/") end
    for k in pairs(listed) do assert.is_truthy(real[k], "types/ has http option " .. k) end
  end)

  it("list only options a provider's function reads", function()
    local cases = {
      { "taskrun.redpanda.TopicsOptions", "redpanda", "opts" },
      { "taskrun.astra.TasksOptions", "astra", "opts" },
      { "taskrun.astra.BackupOptions", "astra", "opts" },
      { "taskrun.bluexp.RestoreOptions", "bluexp", "opts" },
      { "taskrun.keycard.InstallSpec", "keycard", "spec" },
    }
    for _, c in ipairs(cases) do
      local source = H.read_file("stdlib/taskrun/" .. c[2] .. ".lua")
      for key in pairs(all_defined(defs, c[1])) do
        assert.is_truthy(source:find(c[3] .. "." .. key, 1, true) or
          source:find("%(" .. c[3] .. " or {}%)%." .. key),
          c[1] .. "." .. key .. " is not read by stdlib/taskrun/" .. c[2] .. ".lua")
      end
    end
  end)

  it("are what --check knows: the build's taskrun._api reads the same", function()
    local r = H.run({ flags = { "-e", [[
      local api = require("taskrun._api")
      local n = 0
      for _, c in pairs(api.classes) do
        for _ in pairs(c.functions) do n = n + 1 end
        for _ in pairs(c.fields) do n = n + 1 end
      end
      print(n)]] } })
    local n = 0
    for _, c in pairs(defs.classes) do
      for _ in pairs(c.functions) do n = n + 1 end
      for _ in pairs(c.fields) do n = n + 1 end
    end
    assert.are.equal(n .. "\n", r.stdout)
  end)
end)
