-- The delay schedule of taskrun.wait, as pure functions of the options and a random source,
-- so specs check it exactly, without a clock.
local backoff = {}

-- A small deterministic generator (xorshift32): the same seed gives the same numbers in [0, 1)
-- on every machine, independent of math.random's global state.
function backoff.random(seed)
  local state = math.tointeger(seed) and (seed & 0xffffffff) or 0
  if state == 0 then state = 0x9e3779b9 end
  return function()
    state = state ~ ((state << 13) & 0xffffffff)
    state = state ~ (state >> 17)
    state = state ~ ((state << 5) & 0xffffffff)
    return state / 4294967296.0
  end
end

-- The n-th delay (n = 1 before the second poll): interval * backoff^(n-1), capped at
-- max_interval. With jitter it is scaled by a factor in [0.5, 1) drawn from r, and kept within
-- [interval, max_interval]: jitter stays on at the cap, so waits started together spread out.
function backoff.delay(opts, n, r)
  local base = opts.interval * opts.backoff ^ (n - 1)
  if base ~= base or base > opts.max_interval then base = opts.max_interval end
  if opts.jitter then base = base * (0.5 + 0.5 * r) end
  return math.max(opts.interval, math.min(base, opts.max_interval))
end

-- An iterator over the delays of one wait.
function backoff.delays(opts, seed)
  local rand = backoff.random(seed)
  local n = 0
  return function()
    n = n + 1
    return backoff.delay(opts, n, rand())
  end
end

return backoff
