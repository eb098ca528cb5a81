-- Crash specs: the canonical runbook (spec/runbooks/crash.lua: a step, a BlueXP restore and its
-- wait, a step, a Redpanda mount and its wait, a step) is killed with SIGKILL at random points
-- and run again until it ends. Whatever the kill points, in every seed:
--   - the last run exits 0 and prints the outcome line an uninterrupted run prints;
--   - the simulator's request log has each POST (restore, mount) once, or twice only when the
--     journal shows the call was reconciled and sent again ("resent": true);
--   - the counter file shows each explicit step's function finished exactly once; or more,
--     only where the journal proves the at-least-once case: each earlier finish came from an
--     attempt that was killed before the step's end was journaled (the journal read right
--     after that kill does not have the step finished).
-- Kill points: a delay drawn from the seed (the random point itself, not a wait for an event),
-- or the moment a POST is in flight (a latency fault holds the simulator's answer after its
-- handler ran; the spec polls the request log until the POST is there).
--
-- Replay one seed: CRASH_SEED=17 (a random seed) or CRASH_SEED=restore:3 / mount:3 (killed while
-- that POST is in flight first) tools/run-specs spec/crash_spec.lua. CRASH_SEEDS=200 runs seeds
-- 1..200 instead of the fixed list. spec/crash_pg_spec.lua runs the same matrix against
-- PostgreSQL (CRASH_SEEDS_PG seeds, default 5, and the in-flight ones).
local H = require("harness")
local backend = require("backend")
local cjson = require("cjson")

local RUNBOOK = "spec/runbooks/crash.lua"
local RUN_ID = "crash"
local MAX_KILLS = 8        -- runs killed at most, then one run left alone
local KILL_AGAIN = 0.5     -- after the first kill, the chance that a run is killed again
local SPEED = "20"         -- the simulator's tasks end in well under a second

-- The POSTs a run makes, by their path, and their call steps in the journal.
local POSTS = {
  restore = { path = "/account/account-sim00001/providers/cloudmanager_cbs/api/v2/restore",
              step = "call:bluexp.start_restore:" },
  mount = { path = "/v1/cloud-storage/topics/mount", step = "call:redpanda.mount_topics:" },
}
local POST_ORDER = { "restore", "mount" }
local STEPS = { "prepare", "between", "done" }

local function now_ms() return tonumber(H.output_line("date +%s%3N")) end

-- An admin call to the simulator: its decoded answer.
local function admin(sim, method, path, body)
  local answer, code = sim.call(method, path, body)
  assert(code < 300, method .. " " .. path .. ": " .. code)
  return answer
end

-- How many times each POST reached the simulator since its reset.
local function post_counts(sim)
  local counts = {}
  for _, name in ipairs(POST_ORDER) do counts[name] = 0 end
  for _, rq in ipairs(admin(sim, "GET", "/_sim/requests?method=POST").requests) do
    for name, post in pairs(POSTS) do
      if rq.path == post.path then counts[name] = counts[name] + 1 end
    end
  end
  return counts
end

-- The counter file: step name -> the attempts whose function finished it, in order.
local function counter_lines(path)
  local seen = {}
  local f = io.open(path, "rb")
  if f then
    for l in f:lines() do
      local name, attempt = l:match("^(%S+) (%d+)$")
      assert(name, "a counter line that is not \"<step> <attempt>\": " .. l)
      seen[name] = seen[name] or {}
      table.insert(seen[name], tonumber(attempt))
    end
    f:close()
  end
  return seen
end

local function outcome(stdout)
  return stdout:match("(outcome [^\n]*)")
end

describe("a runbook killed at random points and run again until it ends", function()
  local sim, baseline, window
  -- What the seeds went through, printed at the end: that the kills reached the cases that
  -- matter (calls in doubt adopted or sent again), and how often an explicit step ran twice.
  local stats = { seeds = 0, kills = 0, inflight = 0, late = 0, adopted = 0, resent = 0,
                  reruns = 0 }

  -- One seed's world: a reset simulator, a state directory and counter of its own.
  local function world()
    admin(sim, "POST", "/_sim/reset")
    -- Topics that are there before the run; the mount adds its own at its end.
    admin(sim, "POST", "/_sim/topics", { "audit", "payments" })
    local dir = H.tmpdir()
    local w = { dir = dir, counter = dir .. "/counter", state = dir .. "/state" }
    w.opts = { script_path = RUNBOOK, args = { w.counter },
               flags = { "--run-id", RUN_ID },
               env = H.sim_env(sim, backend.env(dir)) }
    return w
  end

  -- The run's journal (`runs show --json`); { steps = {} } if a kill came before it began.
  local function journal(w)
    local r = H.run({ flags = { "runs", "show", RUN_ID, "--json" }, env = w.opts.env })
    if r.code ~= 0 and r.stderr:find('no run "' .. RUN_ID .. '"', 1, true) then
      return { steps = {} }
    end
    assert(r.code == 0, "runs show: " .. r.stderr)
    return cjson.decode(r.stdout)
  end

  -- Uninterrupted runs first: the outcome line every seed must end with, and how long a run
  -- takes in this build on this machine (the shortest of 3), the span kill points are drawn in.
  setup(function()
    sim = H.start_sim({ "--speed", SPEED })
    for _ = 1, 3 do
      local w = world()
      local t0 = now_ms()
      local r = H.run(w.opts)
      local took = now_ms() - t0
      assert(r.code == 0, "the uninterrupted run failed: " .. r.stderr)
      local line = assert(outcome(r.stdout), "no outcome line in: " .. r.stdout)
      assert(baseline == nil or baseline == line, "uninterrupted runs differ: " .. line)
      baseline, window = line, math.min(window or took, took)
    end
  end)

  teardown(function()
    print(string.format("# crash_spec: a run takes %d ms; %d seeds, %d kills (%d with a POST in "
      .. "flight, %d more came after the run had ended); calls in doubt on resume: %d adopted, "
      .. "%d sent again; explicit steps that ran twice: %d", window, stats.seeds, stats.kills,
      stats.inflight, stats.late, stats.adopted, stats.resent, stats.reruns))
    local r = sim.stop()
    assert(r.code == 0, r.stderr)
  end)

  -- Runs the runbook of `w` once, killed at `kill` (a delay in ms, or the name of the POST to
  -- kill it in flight of); returns how it ended, for the seed's history, and its result.
  local function attempt(w, kill)
    if not kill then
      local r = H.run(w.opts)
      return string.format("left alone: exit %d", r.code), r
    end
    if POSTS[kill] then
      admin(sim, "POST", "/_sim/faults", { kind = "latency", method = "POST",
                                           path = POSTS[kill].path, ms = 5000 })
    end
    local before = POSTS[kill] and post_counts(sim)[kill]
    local p = H.spawn(w.opts)
    local how
    if POSTS[kill] then
      -- Polls the request log (the handler ran, the answer is held) until the POST is there.
      local deadline = now_ms() + 30000
      while post_counts(sim)[kill] == before do
        assert(now_ms() < deadline, "the " .. kill .. " POST never came")
      end
      how = "killed while the " .. kill .. " POST was in flight"
    else
      os.execute(string.format("sleep %.3f", kill / 1000))
      how = string.format("killed after %d ms", kill)
    end
    p:kill("KILL")
    local r = p:wait()
    if r.code == 137 then
      stats.kills = stats.kills + 1
      if POSTS[kill] then stats.inflight = stats.inflight + 1 end
    else
      stats.late = stats.late + 1
    end
    admin(sim, "DELETE", "/_sim/faults")
    return string.format("%s: exit %d", how, r.code), r
  end

  -- Kills and runs the runbook again as seed `label` says until it ends; asserts the seed's
  -- guarantees.
  local function crash(label, seed, first)
    math.randomseed(seed)
    stats.seeds = stats.seeds + 1
    local w = world()
    local history, last = {}, nil
    local after_kill = {}   -- attempt -> { step name -> true }: finished in the journal when
                            -- that attempt had been killed
    local function fail(what)
      error(string.format("seed %s: %s\nruns: %s\nreplay: CRASH_SEED=%s tools/run-specs "
        .. "spec/crash_spec.lua\nlast stderr:\n%s", label, what, table.concat(history, "; "),
        label, last and last.stderr:sub(-2000) or ""), 0)
    end
    for i = 1, MAX_KILLS + 1 do
      local kill
      if i <= MAX_KILLS and (i == 1 or math.random() < KILL_AGAIN) then
        kill = (i == 1 and first) or math.random(0, window)
      end
      local how, r = attempt(w, kill)
      history[#history + 1] = how
      last = r
      if r.code == 0 then break end
      if not kill or r.code ~= 137 then fail("a run ended with exit " .. r.code) end
      -- Killed after its end was journaled: the run is over (the next start would be a new
      -- run), and its outcome line was flushed before.
      local runs = journal(w)
      if runs.attempt then
        local done = {}
        for _, st in ipairs(runs.steps) do done[st.name] = st.state == "finished" or nil end
        after_kill[runs.attempt] = done
      end
      if runs.status == "finished" then
        history[#history] = how .. " (after the run had finished)"
        break
      end
    end
    if last.code ~= 0 and journal(w).status ~= "finished" then
      fail("the run never ended")
    end
    if outcome(last.stdout) ~= baseline then
      fail(string.format("outcome %q, an uninterrupted run's is %q", tostring(outcome(
        last.stdout)), baseline))
    end
    local seen = counter_lines(w.counter)
    for _, step in ipairs(STEPS) do
      local by = seen[step] or {}
      if #by == 0 then fail(string.format("explicit step %q never finished", step)) end
      for i = 1, #by - 1 do
        local journaled = after_kill[by[i]]
        if not journaled or journaled[step] then
          fail(string.format("explicit step %q finished %d times (attempts %s), and the journal "
            .. "%s", step, #by, table.concat(by, ", "), not journaled and string.format("was "
            .. "never read after attempt %d was killed", by[i]) or string.format("had it "
            .. "finished after attempt %d was killed", by[i])))
        end
      end
      if #by > 1 then stats.reruns = stats.reruns + 1 end
    end
    local counts = post_counts(sim)
    local steps = journal(w).steps
    for _, st in ipairs(steps) do
      if type(st.result) == "table" and st.result.adopted == true then
        stats.adopted = stats.adopted + 1
      end
      if type(st.result) == "table" and st.result.resent == true then
        stats.resent = stats.resent + 1
      end
    end
    for _, name in ipairs(POST_ORDER) do
      local n = counts[name]
      if n == 2 then
        local resent = false
        for _, s in ipairs(steps) do
          if s.name:sub(1, #POSTS[name].step) == POSTS[name].step and type(s.result) == "table"
              and s.result.resent == true then
            resent = true
          end
        end
        if not resent then fail("the " .. name .. " POST was sent twice, and not as a resend") end
      elseif n > 2 or n == 0 then
        fail(string.format("the %s POST was sent %d times", name, n))
      end
    end
  end

  -- Seeds: a fixed list, 3 fresh ones (printed, to replay), and the in-flight ones.
  local seeds = {}
  local only = os.getenv("CRASH_SEED")
  if only then
    local post, n = only:match("^(%a+):(%d+)$")
    seeds[1] = { label = only, seed = tonumber(n or only), first = post }
  else
    local count = backend.name == "pg" and (os.getenv("CRASH_SEEDS_PG") or 5)
      or os.getenv("CRASH_SEEDS") or 25
    for n = 1, tonumber(count) do
      seeds[#seeds + 1] = { label = tostring(n), seed = n }
    end
    local fresh = os.time()
    print(string.format("# crash_spec: fresh seeds %d %d %d", fresh, fresh + 1, fresh + 2))
    for n = fresh, fresh + 2 do seeds[#seeds + 1] = { label = tostring(n), seed = n } end
    for _, post in ipairs(POST_ORDER) do
      for n = 1, 3 do
        seeds[#seeds + 1] = { label = post .. ":" .. n, seed = n, first = post }
      end
    end
  end
  for _, s in ipairs(seeds) do
    local what = s.first and ("killed while the " .. s.first .. " POST is in flight, then at "
      .. "random points") or "killed at random points"
    it(string.format("seed %s: %s, ends with one POST of each and each step done once",
      s.label, what), function()
      crash(s.label, s.seed, s.first)
    end)
  end
end)
