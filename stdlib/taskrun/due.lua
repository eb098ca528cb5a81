-- The waits of one wait_all/wait_any ordered by when each is next due: a binary min-heap on
-- (due, i), `i` being the wait's target index: waits due at the same moment come out in target
-- order (the 10,000 first polls of a fan-out leave in the order the targets were given).
local due = {}
due.__index = due

function due.new()
  return setmetatable({ n = 0 }, due)
end

local function before(a, b)
  return a.due < b.due or (a.due == b.due and a.i < b.i)
end

-- Adds w (a table with a unique integer `i`), due at time `at` (kept in w.due).
function due:push(w, at)
  w.due = at
  local n = self.n + 1
  self.n = n
  -- Sift up: the parent of slot i is slot i // 2.
  local i = n
  while i > 1 do
    local parent = i // 2
    local p = self[parent]
    if not before(w, p) then break end
    self[i] = p
    i = parent
  end
  self[i] = w
end

-- Removes and returns the wait due first, or nil when the queue is empty.
function due:pop()
  local n = self.n
  if n == 0 then return nil end
  local top, last = self[1], self[n]
  self[n] = nil
  n = n - 1
  self.n = n
  if n > 0 then
    -- Sift the last one down from the root: each step takes the earlier child.
    local i = 1
    while true do
      local child = i * 2
      if child > n then break end
      if child < n and before(self[child + 1], self[child]) then child = child + 1 end
      if not before(self[child], last) then break end
      self[i] = self[child]
      i = child
    end
    self[i] = last
  end
  return top
end

return due
