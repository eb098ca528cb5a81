-- Reads the Lua language server definitions in types/ (`---@meta` files) into one table: the
-- classes with their fields and functions, and which global path is which class. The build
-- writes it as the module taskrun._api, which `taskrun --check` reads; tools/man7.lua renders
-- the same reading as taskrun-lua(7).
--
--   lua5.4 tools/luals.lua types/*.lua > taskrun/_api.lua
--
-- It reads the subset of LuaLS annotations the definitions are written in: `---@class Name[:
-- Parent]` then `---@field name[?] type doc`, `---@alias`, `---@param name[?] type doc` and
-- `---@return type [name] doc` before `function a.b.c(...) end` or `function Local:m(...) end`,
-- `a.b = {}` or `local Local = {}` after a `---@class` (which path or local is that class), and
-- `---doc` lines. Anything else it refuses, naming the file and line, so that a definition it
-- cannot read never silently drops out of --check.
local luals = {}

-- The type at the start of `s` and the rest: a type may hold spaces inside brackets, after
-- ":" "," or "|" and before "|" (`fun(task: taskrun.Task): boolean`, `string|fun(): string`).
local function split_type(s)
  local depth, i = 0, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == "(" or c == "<" or c == "{" or c == "[" then
      depth = depth + 1
    elseif c == ")" or c == ">" or c == "}" or c == "]" then
      depth = depth - 1
    elseif c == " " and depth == 0 then
      local before = s:sub(1, i - 1):match("(%S)%s*$")
      local after = s:sub(i):match("^%s*(%S)")
      if before ~= ":" and before ~= "," and before ~= "|" and after ~= "|" then break end
    end
    i = i + 1
  end
  return s:sub(1, i - 1), (s:sub(i):gsub("^%s+", ""))
end
luals.split_type = split_type

local function new_class(name, parent, doc)
  return { name = name, parent = parent, doc = doc, fields = {}, functions = {}, order = {} }
end

-- Reads the files (paths) into { classes =, paths =, aliases =, files = }; files keep each
-- file's intro and its items in order, for the man page.
function luals.read(paths)
  local api = { classes = {}, paths = {}, aliases = {}, files = {} }
  for _, path in ipairs(paths) do
    local file = { path = path, intro = {}, items = {} }
    api.files[#api.files + 1] = file
    local doc, params, returns = {}, {}, {}
    local class, alias
    local locals = {}
    local n = 0
    local function fail(msg)
      error(string.format("%s:%d: %s", path, n, msg), 0)
    end
    local function take_doc()
      local d = table.concat(doc, " ")
      doc = {}
      return d
    end
    local intro_done = false
    for line in io.lines(path) do
      n = n + 1
      local tag, rest = line:match("^%-%-%-@(%a+)%s*(.*)$")
      if line:find("^%-%-%-@meta") then
        file.meta = line:match("^%-%-%-@meta%s+(%S+)")
      elseif tag == "class" then
        local name, parent = rest:match("^([%w_.]+)%s*:%s*([%w_.]+)$")
        name = name or rest:match("^([%w_.]+)$") or fail("bad @class: " .. rest)
        class = new_class(name, parent, take_doc())
        if api.classes[name] then fail("class " .. name .. " defined twice") end
        api.classes[name] = class
        file.items[#file.items + 1] = { class = class }
        alias = nil
      elseif tag == "field" then
        if not class then fail("@field outside a class") end
        local name, opt, more = rest:match("^([%w_]+)(%??)%s+(.*)$")
        if not name then fail("bad @field: " .. rest) end
        local ty, fdoc = split_type(more)
        class.fields[name] = { type = ty, optional = opt == "?", doc = fdoc }
        class.order[#class.order + 1] = name
      elseif tag == "alias" then
        local name, ty = rest:match("^([%w_.]+)%s*(.*)$")
        if not name then fail("bad @alias: " .. rest) end
        alias = { name = name, type = ty, doc = take_doc(), values = {} }
        api.aliases[name] = alias
        file.items[#file.items + 1] = { alias = alias }
        class = nil
      elseif line:find("^%-%-%-|") then
        if not alias then fail("---| outside an alias") end
        local v, vdoc = line:match("^%-%-%-|%s*(%S+)%s*#?%s*(.*)$")
        alias.values[#alias.values + 1] = { value = v, doc = vdoc }
        alias.type = alias.type == "" and v or (alias.type .. "|" .. v)
      elseif tag == "param" then
        local name, opt, more = rest:match("^([%w_.]+)(%??)%s+(.*)$")
        if not name then fail("bad @param: " .. rest) end
        local ty, pdoc = split_type(more)
        params[#params + 1] = { name = name, type = ty, optional = opt == "?", doc = pdoc }
      elseif tag == "return" then
        local ty, more = split_type(rest)
        local name, rdoc = more:match("^([%w_.]+)%s*(.*)$")
        if name and (name == "..." or not name:find("^%u")) then
          returns[#returns + 1] = { type = ty, name = name, doc = rdoc }
        else
          returns[#returns + 1] = { type = ty, doc = more }
        end
      elseif tag then
        fail("unknown annotation @" .. tag)
      elseif line:find("^%-%-%-") then
        doc[#doc + 1] = line:sub(4):gsub("^%s", "")
      elseif line:find("^%-%- ") or line == "--" then
        if not intro_done then file.intro[#file.intro + 1] = line:sub(4) end
      elseif line:find("^function ") then
        local owner, sep, name, args = line:match("^function ([%w_.]+)([.:])([%w_]+)%((.-)%) end$")
        if not owner then fail("bad function line: " .. line) end
        local cname = sep == ":" and locals[owner] or api.paths[owner]
        local c = cname and api.classes[cname]
        if not c then fail("no class known for " .. owner) end
        if c.functions[name] then fail(cname .. "." .. name .. " defined twice") end
        local f = { name = name, method = sep == ":", params = params, returns = returns,
                    doc = take_doc(), args = args, owner = owner }
        c.functions[name] = f
        c.order[#c.order + 1] = name
        file.items[#file.items + 1] = { fn = f, class = c }
        params, returns = {}, {}
        class, alias = nil, nil
      elseif line:find("^local [%w_]+ = {}$") then
        if not class then fail("a local table without a @class") end
        locals[line:match("^local ([%w_]+)")] = class.name
        class = nil
      elseif line:find("^[%w_.]+ = {}$") then
        if not class then fail("a table without a @class") end
        local p = line:match("^([%w_.]+)")
        api.paths[p] = class.name
        class.path = p
        local parent, key = p:match("^(.+)%.([%w_]+)$")
        if parent then
          local pc = api.classes[api.paths[parent] or ""]
          if not pc then fail("no class known for " .. parent) end
          pc.fields[key] = { type = class.name, doc = class.doc }
          pc.order[#pc.order + 1] = key
        end
        class = nil
      elseif line == "" then
        if #file.intro > 0 then intro_done = true end
        if not class and not alias then doc = {} end
      else
        fail("a line the definitions reader does not know: " .. line)
      end
    end
  end
  return api
end

-- ---- the module taskrun._api -----------------------------------------------------------------

local function serialize(v, indent)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    local out = { "{" }
    for _, k in ipairs(keys) do
      local key = type(k) == "number" and "" or string.format("[%q] = ", k)
      out[#out + 1] = indent .. "  " .. key .. serialize(v[k], indent .. "  ") .. ","
    end
    out[#out + 1] = indent .. "}"
    return table.concat(out, "\n")
  end
  return string.format("%q", v)
end

-- What --check needs of the reading: names and types, no prose.
function luals.lint_table(api)
  local t = { classes = {}, paths = api.paths, aliases = {} }
  for name, c in pairs(api.classes) do
    local fields, functions = {}, {}
    for k, f in pairs(c.fields) do fields[k] = f.type end
    for k, f in pairs(c.functions) do
      local ps, rs = {}, {}
      for i, p in ipairs(f.params) do ps[i] = { name = p.name, type = p.type } end
      for i, r in ipairs(f.returns) do rs[i] = r.type end
      functions[k] = { method = f.method or nil, params = ps, returns = rs }
    end
    t.classes[name] = { parent = c.parent, fields = fields, functions = functions }
  end
  for name, a in pairs(api.aliases) do t.aliases[name] = a.type end
  return t
end

if arg and arg[0] and arg[0]:find("luals%.lua$") and #arg > 0 then
  local ok, api = pcall(luals.read, arg)
  if not ok then
    io.stderr:write(api, "\n")
    os.exit(1)
  end
  io.write("-- Generated by tools/luals.lua from types/: do not edit. The runbook API as the\n",
    "-- definitions declare it, for taskrun --check (stdlib/taskrun/lint.lua).\n",
    "return ", serialize(luals.lint_table(api), ""), "\n")
end

return luals
