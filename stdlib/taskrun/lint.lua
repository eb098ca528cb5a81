-- taskrun --check beyond syntax, without running anything: typos a runbook would otherwise meet
-- at run time, perhaps after a restore was started. Reports, as `file:line: message`:
--   * a global that is neither Lua's nor taskrun's, and a field the taskrun API does not have
--     when reached from the global `taskrun` (`taskrun.bluexp.start_restor`): Debian's luacheck,
--     given the API as a read-only global with its fields;
--   * the same through a local or require (`local bx = taskrun.bluexp; bx.start_restor()`,
--     `job:wiat()` on a Task), and an unknown key in a literal options table passed to a
--     function the API types (`t:wait{ timout = "1h" }`, `taskrun.http.get(u, { hedaers = h })`,
--     `redpanda.client{ tokne = t }`): our own walk of luacheck's syntax tree, which follows
--     locals that are never assigned again.
-- What the API has is taskrun._api: the language server definitions (types/*.lua) as
-- tools/luals.lua reads them, so the editor and --check know the same API.
local api = require("taskrun._api")

local lint = {}

-- ---- luacheck ------------------------------------------------------------------------------

-- Debian's lua-check installs luacheck for Lua 5.1 only; its code runs on 5.4 as well.
-- TASKRUN_LUACHECK_PATH (a package.path) says where else to look. The path stays extended while
-- luacheck runs: it loads some of its modules on first use.
local LUACHECK_DIRS = "/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua"

-- fn(luacheck, parser, decoder)'s results; nil and why when luacheck cannot be loaded, or
-- cannot read what Lua compiled.
local function with_luacheck(fn)
  local saved = package.path
  package.path = saved .. ";" .. (os.getenv("TASKRUN_LUACHECK_PATH") or LUACHECK_DIRS)
  local loaded, luacheck = pcall(require, "luacheck")
  local res = { n = 0 }
  if loaded then
    res = table.pack(pcall(function()
      return fn(luacheck, require("luacheck.parser"), require("luacheck.decoder"))
    end))
  end
  package.path = saved
  if not loaded then
    return nil, "luacheck (Debian's lua-check) is not installed: only the syntax and the "
      .. "settings were checked"
  end
  if not res[1] then
    local why = type(res[2]) == "table" and res[2].msg or tostring(res[2])
    return nil, "luacheck could not read the runbook (" .. why .. "): only the syntax and the "
      .. "settings were checked"
  end
  return table.unpack(res, 2, res.n)
end

-- ---- the API -------------------------------------------------------------------------------

local classes = api.classes

-- A module: a class some global path is (taskrun.bluexp, taskrun.log): class -> path.
local module_of = {}
for path, cname in pairs(api.paths) do module_of[cname] = path end

-- The class `name` and its ancestors' member `key`: "function", def or "field", type.
local function member(name, key)
  local c = classes[name]
  while c do
    if c.functions[key] then return "function", c.functions[key] end
    if c.fields[key] then return "field", c.fields[key] end
    c = c.parent and classes[c.parent]
  end
end

local function members(name)
  local list = {}
  local c = classes[name]
  while c do
    for k in pairs(c.functions) do list[#list + 1] = k end
    for k in pairs(c.fields) do list[#list + 1] = k end
    c = c.parent and classes[c.parent]
  end
  return list
end

local function has_functions(name)
  local c = classes[name]
  return c and next(c.functions) ~= nil
end

-- The value a type names, if the API knows it: a class, or a list of a class ("X[]"). Unions
-- and optional types ("taskrun.WaitOptions?", "taskrun.Task|nil") give their first class.
local function value_of_type(ty)
  if not ty then return nil end
  ty = ty:gsub("%?$", "")
  for part in ty:gmatch("[^|]+") do
    part = part:gsub("^%s+", ""):gsub("%s+$", ""):gsub("%?$", "")
    local elem = part:match("^([%w_.]+)%[%]$")
    if elem and classes[elem] then return { list = elem } end
    if classes[part] then return { class = part } end
  end
end

-- An options class: one with fields and no functions (WaitOptions, a ClientOptions...).
local function options_class(ty)
  local v = value_of_type(ty)
  if v and v.class and not has_functions(v.class) then return v.class end
end

-- ---- suggestions -----------------------------------------------------------------------------

local function distance(a, b)
  if math.abs(#a - #b) > 2 then return 3 end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- " (did you mean start_restore?)", or "".
local function suggest(word, candidates)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = distance(word, c)
    if d <= 2 and (not best_d or d < best_d or (d == best_d and c < best)) then
      best, best_d = c, d
    end
  end
  return best and string.format(" (did you mean %s?)", best) or ""
end

-- ---- the walk ----------------------------------------------------------------------------

-- Walks the syntax tree `ast` with lexical scopes, calling report(line, message). `reassigned`
-- (declaration node -> true) is what a first walk found: a local assigned after its declaration
-- has no known value. That first walk passes a table to fill instead.
local function walk(ast, report, reassigned, filling)
  local scope = { vars = {} }
  local eval, block

  local function push() scope = { vars = {}, up = scope } end
  local function pop() scope = scope.up end

  local function lookup(name)
    local s = scope
    while s do
      local v = s.vars[name]
      if v then return v end
      s = s.up
    end
  end

  local function declare(id, value)
    scope.vars[id[1]] = { decl = id, value = (not filling and not reassigned[id]) and value
                          or nil }
  end

  local function global(name)
    return not lookup(name) and name
  end

  -- A literal table's keys against the options class `cname`, for the call `what`.
  local function check_options(tbl, cname, what)
    if tbl.tag ~= "Table" then return end
    for _, item in ipairs(tbl) do
      if item.tag == "Pair" and item[1].tag == "String" then
        local key = item[1][1]
        if not member(cname, key) then
          report(item[1].line, string.format("unknown option \"%s\" for %s%s", key, what,
            suggest(key, members(cname))))
        end
      end
    end
  end

  -- A call of `fn` (a function value of the API) with `args` (nodes); its first result.
  local function call(fn, args)
    for i, p in ipairs(fn.def.params) do
      local arg = args[i]
      local cname = arg and options_class(p.type)
      if cname then check_options(arg, cname, fn.label) end
    end
    return value_of_type(fn.def.returns[1])
  end

  -- The member `key` of value `v` (a class or list), at `line`: a function value, a value, or
  -- nil; reports what a module does not have, unless luacheck does (`v.global`).
  local function index(v, key, line)
    if v.list then return { class = v.list } end
    local kind, x = member(v.class, key)
    if kind == "function" then
      return { fn = true, def = x, label = (v.path or v.class) .. "." .. key }
    elseif kind == "field" then
      local val = value_of_type(x)
      if val and val.class and module_of[val.class] and v.path then
        val.path = v.path .. "." .. key
        val.global = v.global
      end
      return val
    end
    if v.path and not v.global then
      report(line, string.format("%s has no %s%s", v.path, key, suggest(key, members(v.class))))
    end
  end

  local function walk_function(node)
    push()
    for _, p in ipairs(node[1]) do
      if p.tag == "Id" then declare(p, nil) end
    end
    block(node[2])
    pop()
  end

  function eval(node)
    local tag = node.tag
    if tag == "Id" then
      local v = lookup(node[1])
      if v then return v.value end
      if node[1] == "taskrun" then return { class = "taskrun", path = "taskrun", global = true } end
      return nil
    elseif tag == "Index" then
      local obj = eval(node[1])
      local key = node[2]
      if key.tag ~= "String" then eval(key) end
      if obj and key.tag == "String" then return index(obj, key[1], key.line) end
      if obj and obj.list then return { class = obj.list } end
      return nil
    elseif tag == "Call" then
      local f = node[1]
      for i = 2, #node do eval(node[i]) end
      if f.tag == "Id" and global(f[1]) == "require" and node[2] and node[2].tag == "String" then
        local name = node[2][1]
        local cname = api.paths[name]
        if cname then return { class = cname, path = name } end
        return nil
      end
      local fn = eval(f)
      if fn and fn.fn then return call(fn, { table.unpack(node, 2) }) end
      return nil
    elseif tag == "Invoke" then
      local obj = eval(node[1])
      for i = 3, #node do eval(node[i]) end
      local name = node[2][1]
      local args = { table.unpack(node, 3) }
      if obj and obj.class then
        local kind, def = member(obj.class, name)
        if kind == "function" then
          return call({ def = def, label = obj.class .. ":" .. name }, args)
        elseif not kind and not obj.path then
          report(node[2].line, string.format("%s has no method %s%s", obj.class, name,
            suggest(name, members(obj.class))))
        end
        return nil
      end
      -- A receiver of unknown value: `:wait` is the Task's (a function's parameter, a loop's).
      if name == "wait" and args[1] then
        local _, def = member("taskrun.Task", "wait")
        return call({ def = def, label = "taskrun.Task:wait" }, args)
      end
      return nil
    elseif tag == "Function" then
      walk_function(node)
    elseif tag == "Table" then
      for _, item in ipairs(node) do
        if item.tag == "Pair" then
          eval(item[1])
          eval(item[2])
        else
          eval(item)
        end
      end
    elseif tag == "Op" then
      for i = 2, #node do eval(node[i]) end
    elseif tag == "Paren" then
      return eval(node[1])
    end
    return nil
  end

  local function statement(st)
    local tag = st.tag
    if tag == "Local" then
      local names, exprs = st[1], st[2] or {}
      local values = {}
      for i, e in ipairs(exprs) do values[i] = eval(e) end
      for i, id in ipairs(names) do declare(id, values[i]) end
    elseif tag == "Localrec" then
      declare(st[1][1], nil)
      walk_function(st[2][1])
    elseif tag == "Set" then
      for _, e in ipairs(st[2]) do eval(e) end
      for _, target in ipairs(st[1]) do
        if target.tag == "Id" then
          local v = lookup(target[1])
          if v and filling then reassigned[v.decl] = true end
        else
          eval(target[1])
          if target[2].tag ~= "String" then eval(target[2]) end
        end
      end
    elseif tag == "Do" then
      push()
      block(st)
      pop()
    elseif tag == "While" then
      eval(st[1])
      push()
      block(st[2])
      pop()
    elseif tag == "Repeat" then
      push()
      block(st[1])
      eval(st[2])
      pop()
    elseif tag == "If" then
      for i = 1, #st, 2 do
        if st[i + 1] then
          eval(st[i])
          push()
          block(st[i + 1])
          pop()
        else
          push()
          block(st[i])
          pop()
        end
      end
    elseif tag == "Fornum" then
      for i = 2, #st - 1 do eval(st[i]) end
      push()
      declare(st[1], nil)
      block(st[#st])
      pop()
    elseif tag == "Forin" then
      for _, e in ipairs(st[2]) do eval(e) end
      push()
      for _, id in ipairs(st[1]) do declare(id, nil) end
      block(st[3])
      pop()
    elseif tag == "Return" then
      for _, e in ipairs(st) do eval(e) end
    elseif tag == "Call" or tag == "Invoke" then
      eval(st)
    end
  end

  function block(list)
    for _, st in ipairs(list) do statement(st) end
  end

  block(ast)
end

-- ---- luacheck's part ---------------------------------------------------------------------

-- The API as a luacheck standard: the global `taskrun`, read-only, with every field. A module
-- (a class some path is) has its own fields; any other value takes any field (a string's
-- methods, the runbook's own keys in args or a Task's raw).
local function fields_of(cname)
  local fields = {}
  local c = classes[cname]
  while c do
    for k in pairs(c.functions) do fields[k] = {} end
    for k, ty in pairs(c.fields) do
      if module_of[ty] then
        fields[k] = { fields = fields_of(ty) }
      else
        fields[k] = { other_fields = true }
      end
    end
    c = c.parent and classes[c.parent]
  end
  return fields
end

-- Codes kept: globals set, mutated, read; read-only globals and fields set; fields of globals
-- set or read that the standard does not have.
local KEEP = { ["111"] = true, ["112"] = true, ["113"] = true, ["121"] = true, ["122"] = true,
               ["142"] = true, ["143"] = true }

local function luacheck_events(luacheck, source, report)
  local report_lc = luacheck.check_strings({ source }, {
    std = "lua54",
    read_globals = { taskrun = { fields = fields_of("taskrun") } },
    allow_defined_top = true,
  })
  for _, ev in ipairs(report_lc[1]) do
    if KEEP[ev.code] then
      local msg
      if ev.code == "113" then
        msg = string.format("unknown global %s: not Lua's nor taskrun's (a typo, or a "
          .. "missing local?)", ev.name)
      elseif ev.code == "143" and ev.name == "taskrun" then
        local path = ev.indexing and table.concat(ev.indexing, ".") or ev.field
        local parent, key = ("taskrun." .. path):match("^(.*)%.([^.]+)$")
        local cname = api.paths[parent]
        msg = string.format("%s has no %s%s", parent, key,
          cname and suggest(key, members(cname)) or "")
      else
        msg = luacheck.get_message(ev)
      end
      report(ev.line, msg)
    end
  end
end

-- ---- the check -----------------------------------------------------------------------------

-- Checks the runbook at `path` (its text: `source`, already known to compile). Returns the
-- report (`path:line: message` lines, in line order) and how many problems it holds; nil and
-- why when luacheck cannot be loaded or cannot read the runbook.
function lint.check(path, source)
  if not source then
    local f = assert(io.open(path, "rb"))
    source = f:read("a")
    f:close()
  end
  local found, seen = {}, {}
  local function report(line, message)
    local key = line .. "\0" .. message
    if seen[key] then return end
    seen[key] = true
    found[#found + 1] = { line = line, message = message }
  end
  local ok, why = with_luacheck(function(luacheck, parser, decoder)
    luacheck_events(luacheck, source, report)
    local ast = parser.parse(decoder.decode(source))
    local reassigned = {}
    walk(ast, function() end, reassigned, true)
    walk(ast, report, reassigned, false)
    return true
  end)
  if not ok then return nil, why end
  -- A line that ends in `-- luacheck: ignore` is silenced, as luacheck silences it.
  local ignored, n = {}, 0
  for line in (source .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if line:find("%-%-%s*luacheck:%s*ignore%s*$") then ignored[n] = true end
  end
  local kept = {}
  for _, f in ipairs(found) do
    if not ignored[f.line] then kept[#kept + 1] = f end
  end
  found = kept
  table.sort(found, function(a, b)
    if a.line ~= b.line then return a.line < b.line end
    return a.message < b.message
  end)
  local lines = {}
  for i, f in ipairs(found) do lines[i] = string.format("%s:%d: %s\n", path, f.line, f.message) end
  return table.concat(lines), #found
end

return lint
