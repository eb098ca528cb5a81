-- os.execute and io.popen that do not block the loop: a task waiting on a command yields to the
-- other tasks, and a signal or --timeout stops the command (bindings/proc.c).
--
-- io.popen returns a file-like object with Lua's own conventions: read("a"/"l"/"L"/"n"/n),
-- lines(...), write(...) ("w" mode), close() returning as os.execute does, flush, setvbuf,
-- seek (a pipe cannot seek); io.type knows it. The buffering is here, on the binding's
-- h:fill() (the next chunk, or nil at EOF), h:write(s) and h:close().
--
-- Installed once by the host (runtime/host.c), which passes the binding's functions.
return function(proc)
  local File = {}
  File.__index = File

  local function check(self)
    if self.closed then error("attempt to use a closed file", 3) end
  end

  -- The next chunk, or nil at EOF or on an error (kept for read to report).
  local function fill(self)
    if self.eof then return nil end
    local chunk, err, code = self.h:fill()
    if chunk then return chunk end
    if err then self.err, self.code = err, code else self.eof = true end
    return nil
  end

  -- Appends a chunk to the unread part of the buffer; false at EOF.
  local function more(self)
    local chunk = fill(self)
    if not chunk then return false end
    self.buf = self.pos > #self.buf and chunk or self.buf:sub(self.pos) .. chunk
    self.pos = 1
    return true
  end

  local function peek(self)
    if self.pos > #self.buf and not more(self) then return nil end
    return self.buf:sub(self.pos, self.pos)
  end

  local function read_line(self, keep_newline)
    local scanned = 0
    while true do
      local nl = self.buf:find("\n", self.pos + scanned, true)
      if nl then
        local line = self.buf:sub(self.pos, keep_newline and nl or nl - 1)
        self.pos = nl + 1
        return line
      end
      scanned = #self.buf - self.pos + 1
      if not more(self) then
        if scanned == 0 then return nil end
        local line = self.buf:sub(self.pos)
        self.pos = #self.buf + 1
        return line
      end
    end
  end

  local function read_all(self)
    local parts = { self.buf:sub(self.pos) }
    self.buf, self.pos = "", 1
    while true do
      local chunk = fill(self)
      if not chunk then break end
      parts[#parts + 1] = chunk
    end
    return table.concat(parts)
  end

  local function read_chars(self, n)
    if n == 0 then return peek(self) and "" or nil end
    while #self.buf - self.pos + 1 < n and more(self) do end
    if self.pos > #self.buf then return nil end
    local s = self.buf:sub(self.pos, self.pos + n - 1)
    self.pos = self.pos + #s
    return s
  end

  -- As Lua's read("n"): the longest prefix that can start a numeral (at most 200 characters),
  -- then tonumber of it; the character after it stays unread.
  local function read_number(self)
    local c = peek(self)
    while c and c:find("^%s") do
      self.pos = self.pos + 1
      c = peek(self)
    end
    local got, too_long = {}, false
    local function take()
      if #got >= 200 then too_long = true return false end
      got[#got + 1] = c
      self.pos = self.pos + 1
      c = peek(self)
      return true
    end
    local function test(a, b) return c ~= nil and (c == a or c == b) and take() end
    local function digits(hex)
      local n = 0
      while c and c:find(hex and "^%x" or "^%d") and take() do n = n + 1 end
      return n
    end
    local count, hex = 0, false
    test("-", "+")
    if test("0", "0") then
      if test("x", "X") then hex = true else count = 1 end
    end
    count = count + digits(hex)
    if test(".", ".") then count = count + digits(hex) end
    if count > 0 and test(hex and "p" or "e", hex and "P" or "E") then
      test("-", "+")
      digits(false)
    end
    if too_long then return nil end
    return tonumber(table.concat(got))
  end

  local function read_one(self, fmt, i)
    if math.type(fmt) == "integer" or (type(fmt) == "number" and math.tointeger(fmt)) then
      return read_chars(self, math.tointeger(fmt))
    end
    if type(fmt) ~= "string" then
      error(("bad argument #%d to 'read' (invalid format)"):format(i), 3)
    end
    local p = fmt:gsub("^%*", ""):sub(1, 1)
    if p == "l" then return read_line(self, false) end
    if p == "L" then return read_line(self, true) end
    if p == "n" then return read_number(self) end
    if p == "a" then return read_all(self) end
    error(("bad argument #%d to 'read' (invalid format)"):format(i), 3)
  end

  function File:read(...)
    check(self)
    if self.writing then return nil, "Bad file descriptor", 9 end
    local n = select("#", ...)
    local fmts = n == 0 and { "l" } or { ... }
    local out = {}
    for i = 1, math.max(n, 1) do
      out[i] = read_one(self, fmts[i], i)
      if self.err then
        local err, code = self.err, self.code
        self.err, self.code = nil, nil
        return nil, err, code
      end
      if out[i] == nil then return table.unpack(out, 1, i) end
    end
    return table.unpack(out, 1, math.max(n, 1))
  end

  function File:lines(...)
    check(self)
    local fmts = table.pack(...)
    return function()
      if self.closed then error("file is already closed", 2) end
      local r = table.pack(self:read(table.unpack(fmts, 1, fmts.n)))
      if r[1] ~= nil then return table.unpack(r, 1, r.n) end
      if r.n > 1 and r[2] ~= nil then error(r[2], 2) end
      return nil
    end
  end

  function File:write(...)
    check(self)
    if not self.writing then return nil, "Bad file descriptor", 9 end
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if math.type(v) == "integer" then
        v = string.format("%d", v)
      elseif type(v) == "number" then
        v = string.format("%.14g", v)
      elseif type(v) ~= "string" then
        error(("bad argument #%d to 'write' (string expected, got %s)"):format(i, type(v)), 2)
      end
      local ok, err, code = self.h:write(v)
      if not ok then return nil, err, code end
    end
    return self
  end

  function File:close()
    check(self)
    self.closed = true
    return self.h:close()
  end

  -- Writes go straight to the pipe: there is nothing to flush, nor a buffer to set.
  function File:flush() check(self) return self end
  function File:setvbuf() check(self) return true end
  function File:seek() check(self) return nil, "Illegal seek", 29 end

  File.__close = function(self)
    if not self.closed then self:close() end
  end
  File.__tostring = function(self)
    return self.closed and "file (closed)" or ("file (%p)"):format(self)
  end

  local function popen(prog, mode)
    if type(prog) ~= "string" and type(prog) ~= "number" then
      error(("bad argument #1 to 'popen' (string expected, got %s)"):format(type(prog)), 2)
    end
    mode = mode == nil and "r" or mode
    if mode ~= "r" and mode ~= "w" then error("bad argument #2 to 'popen' (invalid mode)", 2) end
    local h, err, code = proc.open(tostring(prog), mode)
    if not h then return nil, err, code end
    return setmetatable({ h = h, buf = "", pos = 1, writing = mode == "w" }, File)
  end

  local raw_type = io.type
  function io.type(...)
    local f = ...
    if getmetatable(f) == File then return f.closed and "closed file" or "file" end
    return raw_type(...)
  end
  io.popen = popen
  os.execute = proc.execute
end
