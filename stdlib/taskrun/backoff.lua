-- The delay schedule of taskrun.wait, as pure functions of the options and a random source,
-- so specs check it exactly, without a clock.
local backoff = {}

-- A small deterministic generator (xorshift32): the same seed gives the same numbers in [0, 1)
-- on every machine, independent of math.random's global state. Its state is one integer, so a
-- wait keeps it in a field of its own (backoff.first, backoff.next) rather than in a closure:
-- the 10,000 sleeping waits of a wait_all are 10,000 closures lighter.
local function next_state(state)
  state = state ~ ((state << 13) & 0xffffffff)
  state = state ~ (state >> 17)
  return state ~ ((state << 5) & 0xffffffff)
end

-- The state a generator seeded with `seed` starts from. xorshift's first outputs from nearby
-- small seeds are nearly equal: the seed is scattered with a multiplicative hash and a few
-- rounds run, so seeds 1, 2, 3 give unrelated delays.
function backoff.first(seed)
  local state = math.tointeger(seed) and (seed & 0xffffffff) or 0
  state = (state * 0x9e3779b1) & 0xffffffff
  if state == 0 then state = 0x9e3779b9 end
  for _ = 1, 4 do state = next_state(state) end
  return state
end

-- The next state, and the number in [0, 1) it stands for.
function backoff.next(state)
  state = next_state(state)
  return state, state / 4294967296.0
end

function backoff.random(seed)
  local state = backoff.first(seed)
  return function()
    local r
    state, r = backoff.next(state)
    return r
  end
end

-- The n-th delay (n = 1 before the second poll): the rung interval * backoff^(n-1), capped at
-- max_interval. With jitter it is drawn uniformly (from r in [0, 1)) from the upper half of the
-- rung, never under interval: "equal jitter", which stays on at the cap. The first rung has no
-- room under interval, so its draw reaches up toward the second rung instead: waits started
-- together part at their second poll already, not only from the third.
function backoff.delay(opts, n, r)
  local rung = opts.interval * opts.backoff ^ (n - 1)
  if rung ~= rung or rung > opts.max_interval then rung = opts.max_interval end
  if not opts.jitter then return rung end
  local lo, hi = math.max(opts.interval, rung / 2), rung
  if n == 1 then hi = math.min(opts.max_interval, opts.interval * opts.backoff) end
  return lo + (hi - lo) * r
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
