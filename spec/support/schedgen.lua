-- Seeded random runbooks for the scheduler: spawn, cancel, join, yield, sleep, errors (evil
-- ones too), coroutines created in one task and resumed or closed from others, <close>
-- handlers, __gc finalizers, collectgarbage and HTTP waits against a taskrun-sim.
--
-- A program is built so its exit code is known: the main chunk runs its random part under
-- pcall, then joins every task (a join takes a failure, so none is left unjoined; joins only go
-- from a later task to an earlier one, so they cannot form a cycle), then ends as the seed
-- chose: 0, 1 (a string error) or 3 (kind failed). A seed may also set a memory limit, where
-- running out is allowed to end the run (exit 1) anywhere.
--
--   lua5.4 spec/support/schedgen.lua SEED > prog.lua   prints one program (and, on stderr, how
--   ./taskrun --sim --timeout 30s prog.lua             to run it); the spec runs them the same way
local M = {}

-- A small PRNG of our own (an LCG, top bits): the same program for a seed on every Lua.
local function rng(seed)
  local state = seed % 2147483647
  if state <= 0 then state = state + 2147483646 end
  local r = {}
  function r.int(lo, hi)
    state = (state * 48271) % 2147483647
    return lo + state % (hi - lo + 1)
  end
  function r.frac() return r.int(0, 999) / 1000 end
  function r.chance(p) return r.int(1, 1000) <= p * 1000 end
  function r.pick(list) return list[r.int(1, #list)] end
  return r
end

local PRELUDE = [[
local BASE = os.getenv("TASKRUN_SIM_URL")
local H, CO, B, C, G = {}, {}, {}, {}, {}
local MAX_TASKS = 120

local function pick(t, f)
  local n = #t
  if n == 0 then return nil end
  return t[math.min(n, 1 + math.floor(f * n))]
end
-- Every task is in H, so main can join it. Reserve the slot first: a __gc during spawn may
-- spawn too.
local function spawn(k, ...)
  if #H >= MAX_TASKS then return end
  local i = #H + 1
  H[i] = false
  H[i] = taskrun.spawn(B[k], i, ...)
end
local function spawn_safe()
  if #H >= MAX_TASKS then return end
  local i = #H + 1
  H[i] = false
  H[i] = taskrun.spawn(function() taskrun.yield() return i end)
end
-- Only tasks spawned before `me`: joins never form a cycle.
local function join_below(me, f)
  local n = math.min(#H, me - 1)
  if n < 1 then return end
  local h = H[math.min(n, 1 + math.floor(f * n))]
  if h then pcall(h.join, h) end
end
local function cancel(f)
  local h = pick(H, f)
  if h then pcall(h.cancel, h) end
end
local function status(f)
  local h = pick(H, f)
  if h then local _ = h:status() .. tostring(h) .. h.id end
end
local function co_new(k) CO[#CO + 1] = coroutine.create(C[k]) end
local function co_resume(f, ...)
  local co = pick(CO, f)
  if co then pcall(coroutine.resume, co, ...) end
end
local function co_close(f)
  local co = pick(CO, f)
  if co then pcall(coroutine.close, co) end
end
local function co_wrap(k, ...) pcall(coroutine.wrap(C[k]), ...) end
local function http(path)
  if BASE then pcall(taskrun.http.get, BASE .. path, { timeout = "10s" }) end
end
local function finalizer(k) setmetatable({}, { __gc = G[k] }) end
local function closer(k) return setmetatable({}, { __close = G[k] }) end
local function evil()
  return setmetatable({}, {
    __tostring = function() error("evil __tostring") end,
    __index = function() error("evil __index") end,
  })
end
local function hog(n)
  local t = {}
  for i = 1, n do t[i] = string.rep("m", 100) .. i end
  return #t
end
]]

-- Statement generators. `ctx.kind` is "task" (a task body: may join earlier tasks), "co" (a
-- coroutine body: may yield to its resumer; no joins, which could cycle through whoever
-- resumes it) or "safe" (a __gc or __close handler: nothing that may fail the run, and no new
-- finalizer or <close> variable, which would multiply at every collection or recurse). Bodies only spawn or create bodies
-- with a higher number (B, C): the programs end.
local function block(r, ctx, depth, n)
  local out = {}
  local function add(s) out[#out + 1] = s end
  for _ = 1, n do
    local roll = r.int(1, 100)
    local k = ctx.kind
    if roll <= 10 then
      add("taskrun.yield()")
    elseif roll <= 20 then
      add(("taskrun.sleep(%g)"):format(r.int(0, 5) / 1000))
    elseif roll <= 28 and k ~= "safe" and ctx.body < ctx.nbodies then
      if r.chance(0.3) then
        add(("for j = 1, %d do spawn(%d, j) end"):format(r.int(2, 8),
          r.int(ctx.body + 1, ctx.nbodies)))
      else
        add(("spawn(%d, %d)"):format(r.int(ctx.body + 1, ctx.nbodies), r.int(1, 9)))
      end
    elseif roll <= 30 and k == "safe" then
      add("spawn_safe()")
    elseif roll <= 36 then
      add(("cancel(%g)"):format(r.frac()))
    elseif roll <= 44 and k == "task" then
      add(("join_below(me, %g)"):format(r.frac()))
    elseif roll <= 47 then
      add(("status(%g)"):format(r.frac()))
    elseif roll <= 52 and k ~= "safe" and ctx.co < ctx.ncos then
      add(("co_new(%d)"):format(r.int(ctx.co + 1, ctx.ncos)))
    elseif roll <= 58 then
      add(("co_resume(%g, %d)"):format(r.frac(), r.int(1, 9)))
    elseif roll <= 61 then
      add(("co_close(%g)"):format(r.frac()))
    elseif roll <= 64 and k ~= "safe" and ctx.co < ctx.ncos then
      add(("co_wrap(%d, %d)"):format(r.int(ctx.co + 1, ctx.ncos), r.int(1, 9)))
    elseif roll <= 67 and k == "co" then
      add(("coroutine.yield(%d)"):format(r.int(1, 9)))
    elseif roll <= 71 and k ~= "safe" then
      add(("finalizer(%d)"):format(r.int(1, ctx.ngcs)))
    elseif roll <= 74 then
      add(r.pick({ "collectgarbage()", 'collectgarbage("step")', 'collectgarbage("step", 10)' }))
    elseif roll <= 80 and k ~= "safe" then
      add(r.pick({
        ('http("/_sim/delay?ms=%d")'):format(r.int(0, 30)),
        'http("/_sim/status?code=503")',
        'http("/_sim/drop")',
        'http("/_sim/echo/x")',
      }))
    elseif roll <= 84 and depth < 3 then
      add("pcall(function()")
      for _, s in ipairs(block(r, ctx, depth + 1, r.int(1, 5))) do add("  " .. s) end
      add("end)")
    elseif roll <= 87 and depth < 3 then
      add(("for _ = 1, %d do"):format(r.int(1, 3)))
      for _, s in ipairs(block(r, ctx, depth + 1, r.int(1, 4))) do add("  " .. s) end
      add("end")
    elseif roll <= 90 and depth < 3 and k ~= "safe" then
      add("do")
      add(("  local c <close> = closer(%d)"):format(r.int(1, ctx.ngcs)))
      for _, s in ipairs(block(r, ctx, depth + 1, r.int(1, 4))) do add("  " .. s) end
      add("end")
    elseif roll <= 92 then
      add(r.pick({
        "pcall(table.sort, { 3, 1, 2 }, function(a, b) taskrun.sleep(0) return a < b end)",
        "pcall(table.sort, { 3, 1, 2 }, function(a, b) co_resume(0.5) return a < b end)",
        'pcall(string.gsub, "ab", ".", function() taskrun.yield() end)',
      }))
    elseif roll <= 94 and ctx.memory then
      -- Up to ~4 MB: past the 3M limit, near the 6M one. Near its limit every allocation
      -- may cost a full collection, so a bigger hog only made the seed slow (40 s under ASan).
      add(("hog(%d)"):format(r.int(1000, 30000)))
    elseif roll <= 97 and k ~= "safe" then
      add(r.pick({
        'error("boom")',
        'error(taskrun.error("failed", "vendor task failed"))',
        'error(taskrun.error("auth", "token refused"))',
        "error(evil())",
        "error()",
      }))
    else
      add(r.pick({ "taskrun.yield()", "local _ = taskrun.now()" }))
    end
  end
  return out
end

local function emit_functions(lines, r, name, count, ctx, params, size)
  for i = 1, count do
    local c = {}
    for key, v in pairs(ctx) do c[key] = v end
    c.body = name == "B" and i or 0
    c.co = name == "C" and i or 0
    lines[#lines + 1] = ("%s[%d] = function(%s)"):format(name, i, params)
    for _, s in ipairs(block(r, c, 1, r.int(size[1], size[2]))) do
      lines[#lines + 1] = "  " .. s
    end
    lines[#lines + 1] = "end"
  end
end

-- Returns the program's text and what to expect: { codes = { [code] = true }, memory = limit }.
function M.generate(seed)
  local r = rng(seed)
  local nbodies, ncos, ngcs = r.int(3, 8), r.int(1, 4), r.int(1, 3)
  local memory = r.chance(0.15) and r.pick({ "3M", "6M", "12M" }) or nil
  local ctx = { nbodies = nbodies, ncos = ncos, ngcs = ngcs, memory = memory ~= nil }
  local final = r.pick({ 0, 0, 1, 3 })
  local lines = { ("-- taskrun scheduler program, seed %d (spec/support/schedgen.lua)"):format(seed),
                  PRELUDE }
  ctx.kind = "safe"
  emit_functions(lines, r, "G", ngcs, ctx, "...", { 1, 4 })
  ctx.kind = "co"
  emit_functions(lines, r, "C", ncos, ctx, "...", { 2, 8 })
  ctx.kind = "task"
  emit_functions(lines, r, "B", nbodies, ctx, "me, ...", { 3, 12 })
  -- The main chunk: a few segments, so an error ends only its own.
  lines[#lines + 1] = "local me = math.huge"
  local c = {}
  for key, v in pairs(ctx) do c[key] = v end
  c.body, c.co = 0, 0
  lines[#lines + 1] = ("for j = 1, %d do spawn(%d, j) end"):format(r.int(2, 15),
    r.int(1, nbodies))
  for _ = 1, r.int(2, 5) do
    lines[#lines + 1] = "pcall(function()"
    for _, s in ipairs(block(r, c, 1, r.int(4, 12))) do lines[#lines + 1] = "  " .. s end
    lines[#lines + 1] = "end)"
  end
  lines[#lines + 1] = [[
local i = 1
while i <= #H do
  local h = H[i]
  if h then pcall(h.join, h) end
  i = i + 1
end
print("main done")]]
  if final == 1 then
    lines[#lines + 1] = 'error("the seed chose to fail")'
  elseif final == 3 then
    lines[#lines + 1] = 'error(taskrun.error("failed", "the seed chose kind failed"))'
  end
  local expect = { codes = { [final] = true }, memory = memory }
  if memory then expect.codes = { [0] = true, [1] = true, [3] = true } end
  return table.concat(lines, "\n") .. "\n", expect
end

-- The command that replays a seed by hand.
function M.replay(seed)
  local memory = select(2, M.generate(seed)).memory
  return ("lua5.4 spec/support/schedgen.lua %d > /tmp/sched-%d.lua && %s./taskrun --sim "
    .. "--timeout 30s /tmp/sched-%d.lua"):format(seed, seed,
      memory and ("TASKRUN_MEMORY_LIMIT=" .. memory .. " ") or "", seed)
end

if arg and arg[0] and arg[0]:match("schedgen%.lua$") then
  local seed = assert(tonumber(arg[1]), "usage: lua5.4 spec/support/schedgen.lua SEED")
  io.write((M.generate(seed)))
  io.stderr:write("run it with: ", M.replay(seed), "\n")
end

return M
