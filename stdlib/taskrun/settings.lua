-- The settings pre-check: before a runbook's first line runs (and for `taskrun --check`), find
-- the provider modules it uses and list every setting their default clients lack, at once.
--
-- How the runbook is read: its source text, through a small Lua tokenizer (comments, strings
-- and long brackets skipped, lines counted), not its bytecode. The source gives the line of
-- each use for `file:line:` messages without decoding the chunk's line info, and the tokens
-- tell a `require("taskrun.redpanda")` or a `taskrun.redpanda` from the same words in a comment
-- or a string. What is seen: `require("taskrun.P")` (or `require "taskrun.P"`), `taskrun.P` for
-- the global or a local alias of `require("taskrun")`, and local aliases of those (`local rp =
-- taskrun.redpanda`). A use the text does not show (`taskrun[name]`) is not checked here; the
-- client still checks its settings when it is made.
--
-- A runbook that builds explicit clients (`rp.client{...}`, `taskrun.redpanda.client(...)`)
-- may give them what the environment lacks: its problems are warnings, not a refusal. A
-- `.client(` call on a value the scan cannot trace to one provider counts for every provider.
local core = require("taskrun._core")
local specs = require("taskrun._provider")
local provider = require("taskrun.provider")

local settings = {}

-- ---- tokens ----------------------------------------------------------------------------------

-- The closing bracket of a long bracket opened at `i` (`[[`, `[==[`): returns the index after
-- it (or past the end when unclosed), or nil when `i` opens none.
local function long_bracket(src, i)
  local eq = src:match("^%[(=*)%[", i)
  if not eq then return nil end
  local _, stop = src:find("]" .. eq .. "]", i + #eq + 2, true)
  return (stop or #src) + 1
end

local function count_lines(s)
  local _, n = s:gsub("\n", "")
  return n
end

-- The tokens of `src`: a list of { k = "name"|"string"|"op"|"other", v =, line = }. Strings
-- keep their raw text between the quotes (escapes are not decoded: a module name has none).
function settings.tokens(src)
  local list, i, line, n = {}, 1, 1, #src
  if src:sub(1, 1) == "#" then i = (src:find("\n", 1, true) or n) end   -- a #! line
  local function add(k, v) list[#list + 1] = { k = k, v = v, line = line } end
  while i <= n do
    local c = src:sub(i, i)
    if c == "\n" then
      line, i = line + 1, i + 1
    elseif c:match("%s") then
      i = i + 1
    elseif src:sub(i, i + 1) == "--" then
      local stop = long_bracket(src, i + 2)
      if not stop then stop = (src:find("\n", i, true) or n + 1) end
      line = line + count_lines(src:sub(i, stop - 1))
      i = stop
    elseif c == "[" and long_bracket(src, i) then
      local stop = long_bracket(src, i)
      add("string", src:sub(i, stop - 1):match("^%[=*%[(.-)%]=*%]$") or "")
      line = line + count_lines(src:sub(i, stop - 1))
      i = stop
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = src:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == c or d == "\n" then break
        else j = j + 1 end
      end
      add("string", src:sub(i + 1, j - 1))
      line = line + count_lines(src:sub(i, j))
      i = j + 1
    elseif c:match("[%a_]") then
      local name = src:match("^[%w_]+", i)
      add("name", name)
      i = i + #name
    elseif c:match("%d") then
      local num = src:match("^[%w_%.]+", i)   -- 0x1p4, 1e10, 3.5: one token, never a '.'
      add("other", num)
      i = i + #num
    else
      local op = src:match("^%.%.%.?", i) or c
      add("op", op)
      i = i + #op
    end
  end
  return list
end

-- ---- uses ------------------------------------------------------------------------------------

-- The provider a `require` argument names ("taskrun.redpanda" -> "redpanda"), or "taskrun"
-- for the root module, or nil.
local function module_of(s)
  if s == "taskrun" then return "taskrun" end
  local p = s and s:match("^taskrun%.([%w_]+)$")
  if p and specs[p] then return p end
  return nil
end

-- What the provider modules of `src` are: returns uses (provider -> first line), explicit
-- (provider -> line of its first .client call, or `explicit.any` for an untraced one).
function settings.scan(src)
  local t = settings.tokens(src)
  local uses, explicit = {}, {}
  local alias = { taskrun = "taskrun" }   -- local name -> "taskrun" or a provider
  local function tok(i) return t[i] or {} end

  -- At token i: the module an expression there names, and the index after it.
  -- require("M") | require "M" | ROOT.P | ALIAS
  local function module_at(i)
    local a = tok(i)
    if a.k ~= "name" then return nil end
    if a.v == "require" then
      local s = tok(i + 1)
      if s.k == "string" then return module_of(s.v), i + 2 end
      if s.v == "(" and tok(i + 2).k == "string" and tok(i + 3).v == ")" then
        return module_of(tok(i + 2).v), i + 4
      end
      return nil
    end
    local m = alias[a.v]
    if m == "taskrun" and tok(i + 1).v == "." and tok(i + 2).k == "name" then
      local p = tok(i + 2).v
      if specs[p] then return p, i + 3 end
      return nil
    end
    return m, i + 1
  end

  local i = 1
  while i <= #t do
    local a = t[i]
    local prev = tok(i - 1).v
    local after_dot = prev == "." or prev == ":"
    if a.k == "name" and not after_dot then
      local m, j = module_at(i)
      if m and m ~= "taskrun" then
        uses[m] = uses[m] or a.line
        -- m.client( / m.client{ / m.client "...": an explicit client of m
        if tok(j).v == "." and tok(j + 1).v == "client" then
          local call = tok(j + 2)
          if call.v == "(" or call.v == "{" or call.k == "string" then
            explicit[m] = explicit[m] or a.line
            j = j + 2   -- past ".client": it is traced, not one of the untraced below
          end
        end
      end
      -- local NAME = <module>: an alias from here on (scopes are not tracked: a runbook that
      -- reuses the name for something else at worst makes the check see one use more)
      if a.v == "local" and tok(i + 1).k == "name" and tok(i + 2).v == "=" then
        local m2 = module_at(i + 3)
        if m2 then alias[tok(i + 1).v] = m2 end
      end
      i = (m and j and j > i) and j or i + 1
    else
      -- X.client(...) on anything the scan could not trace: may be any provider's
      if a.v == "client" and prev == "." and not explicit.any then
        local call = tok(i + 1)
        if call.v == "(" or call.v == "{" or call.k == "string" then explicit.any = a.line end
      end
      i = i + 1
    end
  end
  return uses, explicit
end

-- ---- problems --------------------------------------------------------------------------------

-- Every settings problem of the runbook `src`: a list of { provider =, line =, message =,
-- warning = true|nil }, in the order of the providers' first uses. A warning is a problem of a
-- provider the runbook may give explicit clients.
function settings.problems(src)
  local uses, explicit = settings.scan(src)
  local names = {}
  for name in pairs(uses) do names[#names + 1] = name end
  table.sort(names, function(a, b)
    if uses[a] ~= uses[b] then return uses[a] < uses[b] end
    return a < b
  end)
  local list = {}
  for _, name in ipairs(names) do
    for _, m in ipairs(provider.problems(name)) do
      list[#list + 1] = { provider = name, line = uses[name], message = name .. ": " .. m,
        warning = (explicit[name] or explicit.any) and true or nil }
    end
  end
  return list
end

local function located(label, p)
  return string.format("%s:%d: %s%s", label, p.line, p.warning and "warning: " or "", p.message)
end

-- The runbook's text: `src` when given (-e CODE), else the file at `path`; nil when unreadable
-- (it was just compiled: the check then has nothing to say).
local function text_of(src, path)
  if src then return src end
  local f = path and io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The pre-check of a run: `label` is the chunk's name as messages give it (the script's path,
-- or "(command line)"), `src` its text or `path` its file. Logs the warnings; raises one usage
-- error (exit 2) naming every missing setting of the providers used without explicit clients.
function settings.precheck(label, src, path)
  src = text_of(src, path)
  if not src then return end
  local errors, warnings = {}, {}
  for _, p in ipairs(settings.problems(src)) do
    local list = p.warning and warnings or errors
    list[#list + 1] = p
  end
  for _, p in ipairs(warnings) do
    core.log.warn("setting missing from the environment (an explicit client must give it): "
      .. located(label, p):gsub(": warning: ", ": ", 1))
  end
  if #errors == 0 then return end
  local lines = {}
  for _, p in ipairs(errors) do lines[#lines + 1] = located(label, p) end
  error(core.error("usage", string.format("%d setting%s missing, nothing was run:\n%s",
    #errors, #errors == 1 and " is" or "s are", table.concat(lines, "\n")),
    { problems = lines }), 0)
end

-- taskrun --check: the settings problems of `src` (or the file at `path`) as `label:line:
-- message` lines (a warning reads `label:line: warning: message`). Returns the text (empty
-- when none) and whether any is an error (not a warning).
function settings.check(label, src, path)
  src = text_of(src, path)
  local lines, failed = {}, false
  if not src then return "", false end
  for _, p in ipairs(settings.problems(src)) do
    lines[#lines + 1] = located(label, p) .. "\n"
    failed = failed or not p.warning
  end
  return table.concat(lines), failed
end

return settings
