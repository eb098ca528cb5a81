-- Turns a page source (doc/taskrun.1.txt) into a man page (roff) or into the C string that
-- `taskrun --help` prints: the options, commands, exit codes and environment are written once,
-- so the page and --help cannot drift apart.
--
--   lua5.4 tools/mangen.lua man  SOURCE VERSION > taskrun.1
--   lua5.4 tools/mangen.lua help SOURCE VERSION > help.h      (static const char usage_text[])
--
-- The source, line by line:
--   .TH NAME SECTION TITLE   the page's title line (the man page only)
--   = SECTION                a section; `= SECTION | label | style` also puts it in --help under
--                            "label:", as a `list` (two columns), `inline` (terms and their help
--                            joined by commas) or `text` (the section's help paragraph)
--   : TERM                   an item (a tagged paragraph): an option, a command, an exit code
--   > text                   help text: of the item above, or of the section before any item;
--                            it is in the page too, except in `inline` sections, where it is a
--                            short label and the page says it at length
--   $ line                   a command line: SYNOPSIS's are --help's usage lines
--       line (4 spaces)      a verbatim line (examples)
--   * text                   a bullet
--   blank                    ends a paragraph; any other line is the page's text
-- Inline: `x` is bold (what is typed), *x* italic (what is replaced). In terms and `$` lines a
-- word that begins with "-" is bold and an upper-case placeholder (SCRIPT, D) italic. @VERSION@
-- is the version.
local mode, path, version = arg[1], arg[2], arg[3]
if not (mode == "man" or mode == "help") or not path or not version then
  io.stderr:write("usage: lua5.4 tools/mangen.lua man|help SOURCE VERSION\n")
  os.exit(2)
end

-- ---- reading -----------------------------------------------------------------------------

local function parse(text)
  local page = { sections = {} }
  local section, item, para
  local function new_para(kind)
    para = { kind = kind, lines = {} }
    local into = item and item.body or section.body
    into[#into + 1] = para
    return para
  end
  local n = 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    line = line:gsub("@VERSION@", version)
    local function fail(msg)
      io.stderr:write(string.format("%s:%d: %s\n", path, n, msg))
      os.exit(1)
    end
    if line:find("^%.TH ") then
      page.th = line
    elseif line:find("^= ") then
      local name, label, style = line:match("^= ([^|]-)%s*|%s*([^|]-)%s*|%s*(%a+)%s*$")
      if not name then name = line:sub(3) end
      if style and style ~= "list" and style ~= "inline" and style ~= "text" then
        fail("unknown help style " .. style)
      end
      section = { name = name, label = label, style = style, body = {}, items = {}, help = {} }
      page.sections[#page.sections + 1] = section
      item, para = nil, nil
    elseif not section then
      if line ~= "" then fail("text before the first section") end
    elseif line:find("^: ") then
      item = { term = line:sub(3), help = {}, body = {} }
      section.items[#section.items + 1] = item
      section.body[#section.body + 1] = { kind = "item", item = item }
      para = nil
    elseif line:find("^> ") or line == ">" then
      local help = item and item.help or section.help
      help[#help + 1] = line:sub(3)
    elseif line:find("^%$ ") then
      if not para or para.kind ~= "command" then new_para("command") end
      para.lines[#para.lines + 1] = line:sub(3)
      if section.name == "SYNOPSIS" then
        page.usage = page.usage or {}
        page.usage[#page.usage + 1] = line:sub(3)
      end
    elseif line:find("^    ") then
      if not para or para.kind ~= "verbatim" then new_para("verbatim") end
      para.lines[#para.lines + 1] = line:sub(5)
    elseif line:find("^%* ") then
      new_para("bullet").lines[1] = line:sub(3)
    elseif line == "" then
      para = nil
    else
      if not para or (para.kind ~= "text" and para.kind ~= "bullet") then new_para("text") end
      para.lines[#para.lines + 1] = line
    end
  end
  return page
end

-- ---- the help ----------------------------------------------------------------------------

-- *x* is italic only when x is one word that begins with a letter: *_TOKEN is a pattern.
local ITALIC = "%*(%a[%w_.%-]*)%*"

local function plain(s)
  return (s:gsub("`([^`]*)`", "%1"):gsub(ITALIC, "%1"))
end

-- Words of `text` in lines of at most `width` columns, each after `indent` spaces but the
-- first, which follows `first` (its columns counted).
local function wrap(text, width, first, indent)
  local out, line = {}, first
  local fresh = true
  for word in text:gmatch("%S+") do
    if not fresh and #line + 1 + #word > width then
      out[#out + 1] = line
      line, fresh = string.rep(" ", indent), true
    end
    line = line .. (fresh and "" or " ") .. word
    fresh = false
  end
  out[#out + 1] = line
  return table.concat(out, "\n")
end

-- A term longer than TERM_MAX columns has its help on the lines below it.
local WIDTH, TERM_COL, TERM_MAX = 80, 21, 24

local function help_of(page)
  local out = {}
  for i, u in ipairs(page.usage or {}) do
    out[#out + 1] = (i == 1 and "usage: " or "       ") .. plain(u)
  end
  for _, s in ipairs(page.sections) do
    if s.name == "DESCRIPTION" and #s.help > 0 then
      out[#out + 1] = ""
      out[#out + 1] = wrap(plain(table.concat(s.help, " ")), WIDTH, "", 0)
    end
  end
  local blank = false
  for _, s in ipairs(page.sections) do
    if s.style == "list" then
      out[#out + 1] = ""
      out[#out + 1] = s.label .. ":"
      for _, it in ipairs(s.items) do
        if #it.help > 0 then
          local head = "  " .. plain(it.term)
          if #head > TERM_MAX then
            out[#out + 1] = head
            head = string.rep(" ", TERM_COL)
          elseif #head < TERM_COL - 1 then
            head = head .. string.rep(" ", TERM_COL - #head)
          else
            head = head .. "  "
          end
          out[#out + 1] = wrap(plain(table.concat(it.help, " ")), WIDTH, head, TERM_COL)
        end
      end
    elseif s.style == "inline" or s.style == "text" then
      if not blank then out[#out + 1] = "" end
      blank = true
      local text
      if s.style == "inline" then
        local parts = {}
        for _, it in ipairs(s.items) do
          local h = plain(table.concat(it.help, " ")):gsub("^%s+", "")
          if #it.help > 0 then
            parts[#parts + 1] = plain(it.term) .. (h ~= "" and " " .. h or "")
          end
        end
        for _, h in ipairs(s.help) do parts[#parts + 1] = plain(h) end
        text = table.concat(parts, ", ")
      else
        text = plain(table.concat(s.help, " "))
      end
      out[#out + 1] = wrap(text, WIDTH, s.label .. ": ", #s.label + 2)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

local function c_string(text)
  local out = { "/* Generated by tools/mangen.lua from " .. path .. ": do not edit. */",
                "static const char usage_text[] =" }
  for line in text:gmatch("(.-)\n") do
    out[#out + 1] = '  "' .. line:gsub('[\\"]', "\\%0") .. '\\n"'
  end
  out[#out] = out[#out] .. ";"
  return table.concat(out, "\n") .. "\n"
end

-- ---- the page ----------------------------------------------------------------------------

-- Text made safe for roff: backslashes, minus signs (options must not become hyphens), and
-- the control characters a line must not begin with.
local function esc(s)
  return (s:gsub("\\", "\\e"):gsub("%-", "\\-"))
end

-- Markup to roff, each piece escaped on its own (the markup's own characters are not text).
local function inline(s)
  local out, pos = {}, 1
  while pos <= #s do
    local a, b, bold = s:find("`([^`]*)`", pos)
    local c, d, ital = s:find(ITALIC, pos)
    if c and (not a or c < a) then a, b, bold = c, d, nil end
    if not a then
      out[#out + 1] = esc(s:sub(pos))
      break
    end
    out[#out + 1] = esc(s:sub(pos, a - 1))
    out[#out + 1] = bold and ("\\fB" .. esc(bold) .. "\\fR") or ("\\fI" .. esc(ital) .. "\\fR")
    pos = b + 1
  end
  return table.concat(out)
end

-- A term or command line: `-x` words bold, upper-case placeholders italic, the first word bold.
local function term(s)
  if s:find("[`*]") then return inline(s) end
  local first = true
  local names = s:find("^[A-Z][A-Z0-9_]*[%s,]") or s:find("^[A-Z][A-Z0-9_]*$")
  return (s:gsub("()([%w_.%-]+)", function(pos, word)
    local styled
    if first and pos == 1 then
      styled = "\\fB" .. esc(word) .. "\\fR"
    elseif word:find("^%-") then
      local name, rest = word:match("^(%-[%w%-]+)(.*)$")
      styled = "\\fB" .. esc(name) .. "\\fR" .. esc(rest)
    else
      local caps, rest = word:match("^([A-Z][A-Z0-9_]*)(.*)$")
      if caps and names then
        styled = "\\fB" .. esc(word) .. "\\fR"
      elseif caps and (#caps > 1 or rest == "" or rest:find("^%.")) then
        styled = "\\fI" .. esc(caps) .. "\\fR" .. esc(rest)
      else
        styled = esc(word)
      end
    end
    first = false
    return styled
  end))
end

local function guard(line)
  if line:find("^[.']") then return "\\&" .. line end
  return line
end

local function sentence(help)
  local s = table.concat(help, " ")
  s = s:gsub("^%l", string.upper)
  if not s:find("[.:!?]$") then s = s .. "." end
  return s
end

local function emit_paras(out, paras, in_item)
  for i, p in ipairs(paras) do
    if p.kind == "text" then
      if i > 1 or not in_item then out[#out + 1] = in_item and ".IP" or ".PP" end
      for _, l in ipairs(p.lines) do out[#out + 1] = guard(inline(l)) end
    elseif p.kind == "bullet" then
      out[#out + 1] = ".IP \\(bu 2"
      for _, l in ipairs(p.lines) do out[#out + 1] = guard(inline(l)) end
    elseif p.kind == "command" or p.kind == "verbatim" then
      out[#out + 1] = in_item and ".IP" or ".PP"
      out[#out + 1] = ".RS 4"
      out[#out + 1] = ".nf"
      for _, l in ipairs(p.lines) do
        out[#out + 1] = guard(p.kind == "command" and term(l) or esc(l))
      end
      out[#out + 1] = ".fi"
      out[#out + 1] = ".RE"
    elseif p.kind == "item" then
      local it = p.item
      out[#out + 1] = ".TP"
      out[#out + 1] = guard(term(it.term))
      local own = it.section_style ~= "inline" and #it.help > 0
      if own then out[#out + 1] = guard(inline(sentence(it.help))) end
      local body = it.body
      if own and body[1] and body[1].kind == "text" then
        for _, l in ipairs(body[1].lines) do out[#out + 1] = guard(inline(l)) end
        body = { table.unpack(body, 2) }
        emit_paras(out, body, true)
      else
        emit_paras(out, body, not own)
      end
      if not own and #body == 0 and #it.help > 0 then
        out[#out + 1] = guard(inline(sentence(it.help)))
      end
    end
  end
end

local function man_of(page)
  local out = { '.\\" Generated by tools/mangen.lua from ' .. path .. ": do not edit." }
  out[#out + 1] = page.th or error("no .TH line")
  -- Names (TASKRUN_MEMORY_LIMIT, --sim-token-ttl) must not be hyphenated, nor spread out.
  out[#out + 1] = ".nh"
  out[#out + 1] = ".ad l"
  for _, s in ipairs(page.sections) do
    out[#out + 1] = ".SH " .. s.name
    for _, it in ipairs(s.items) do it.section_style = s.style end
    if s.style ~= "inline" and #s.help > 0 and s.name ~= "DESCRIPTION" then
      out[#out + 1] = ".PP"
      out[#out + 1] = guard(inline(sentence(s.help)))
    elseif s.name == "DESCRIPTION" and #s.help > 0 then
      out[#out + 1] = guard(inline(sentence(s.help)))
    end
    local paras = s.body
    if s.name == "SYNOPSIS" then
      out[#out + 1] = ".nf"
      for _, p in ipairs(paras) do
        for _, l in ipairs(p.lines or {}) do out[#out + 1] = guard(term(l)) end
      end
      out[#out + 1] = ".fi"
    else
      emit_paras(out, paras, false)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

local f = assert(io.open(path))
local page = parse(f:read("a"))
f:close()
io.write(mode == "man" and man_of(page) or c_string(help_of(page)))
