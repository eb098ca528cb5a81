-- wait_all and wait_any over more targets than they have workers: the waits between polls are
-- only their state, in a due queue, and at most 256 worker tasks take their turns. Counting
-- only: how many target functions run at once, how many polls each wait made, in what order.
local H = require("harness")

local function run(script)
  local r = H.run({ script = script, flags = { "--timeout", "120s" } })
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout
end

-- A runbook prelude: fake(i, polls_to_done, state) is a target function whose Task is done
-- (COMPLETED, or `state`) on its polls_to_done-th poll, and pending before; `running` and
-- `most` count the target functions under way at once (each yields once, as a request would;
-- one stopped meanwhile never counts itself out, so `running` is read only after a wait_all
-- that ran to its end).
local FAKE = [[
  local running, most, polls = 0, 0, {}
  local function fake(i, n, final)
    polls[i] = 0
    return function()
      running = running + 1
      if running > most then most = running end
      taskrun.sleep(0.001)
      running = running - 1
      polls[i] = polls[i] + 1
      local done = polls[i] >= n
      local state = done and (final or "COMPLETED") or "PENDING"
      local ok = state == "COMPLETED"
      return { id = i, state = state, status = done and (ok and "succeeded" or "failed")
               or "pending", done = done, ok = ok }
    end
  end
  local fast = { interval = 0.01, max_interval = 0.02 }
]]

describe("a wait_all over more targets than workers", function()
  it("gives the queued waits back by due time, equal times in target order", function()
    local out = run([[
      local due = require("taskrun.due")
      local q, items = due.new(), {}
      math.randomseed(7)
      for i = 1, 500 do
        items[i] = { i = i }
        q:push(items[i], math.random(1, 50) / 10)   -- many equal times
      end
      local last, n = nil, 0
      while true do
        local w = q:pop()
        if not w then break end
        n = n + 1
        if last then
          assert(last.due < w.due or (last.due == w.due and last.i < w.i),
            ("out of order: %g/%d before %g/%d"):format(last.due, last.i, w.due, w.i))
        end
        last = w
      end
      print(n, q:pop())
    ]])
    assert.are.equal("500\tnil\n", out)
  end)

  it("takes pops and pushes interleaved as a worker does, the earliest always first", function()
    local out = run([[
      local due = require("taskrun.due")
      local q, waiting = due.new(), {}
      math.randomseed(11)
      for i = 1, 300 do
        waiting[i] = { i = i }
        q:push(waiting[i], math.random(1, 20))
      end
      -- Each round pops one, checks it against every wait still queued (by brute force), and
      -- pushes it back later, sometimes at a time equal to others'.
      local wrong = 0
      for _ = 1, 3000 do
        local w = q:pop()
        waiting[w.i] = nil
        for _, other in pairs(waiting) do
          if other.due < w.due or (other.due == w.due and other.i < w.i) then
            wrong = wrong + 1
          end
        end
        waiting[w.i] = w
        q:push(w, w.due + math.random(0, 5))
      end
      print(wrong, q.n)
    ]])
    assert.are.equal("0\t300\n", out)
  end)

  it("polls every target on its own schedule, at most 256 at once, results in order", function()
    local out = run(FAKE .. [[
      local targets = {}
      for i = 1, 600 do targets[i] = fake(i, 3) end
      local tasks = taskrun.wait_all(targets, fast)
      local total, inorder = 0, true
      for i = 1, 600 do
        total = total + polls[i]
        inorder = inorder and tasks[i].id == i and tasks[i].state == "COMPLETED"
      end
      print(#tasks, total, most, inorder)
    ]])
    assert.are.equal("600\t1800\t256\ttrue\n", out)
  end)

  it("stops every other wait at the first failure: no poll after it", function()
    local out = run(FAKE .. [[
      local targets = {}
      for i = 1, 600 do targets[i] = i == 450 and fake(i, 2, "FAILED") or fake(i, 1000) end
      local ok, err = pcall(taskrun.wait_all, targets, fast)
      local function total()
        local n = 0
        for i = 1, 600 do n = n + polls[i] end
        return n
      end
      local at_failure = total()
      -- Ten intervals: a worker left running would have polled again by now.
      taskrun.sleep(0.2)
      print(ok, err.kind, err.index, total() == at_failure)
    ]])
    assert.are.equal("false\tfailed\t450\ttrue\n", out)
  end)

  it("wait_any returns the first target done and stops the rest", function()
    local out = run(FAKE .. [[
      local targets = {}
      for i = 1, 600 do targets[i] = fake(i, i == 300 and 3 or 1000) end
      local task, i = taskrun.wait_any(targets, fast)
      local n = 0
      for j = 1, 600 do n = n + polls[j] end
      taskrun.sleep(0.2)
      local m = 0
      for j = 1, 600 do m = m + polls[j] end
      print(task.id, i, n == m)
    ]])
    assert.are.equal("300\t300\ttrue\n", out)
  end)
end)
