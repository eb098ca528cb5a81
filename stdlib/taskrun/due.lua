-- The waits of one wait_all/wait_any ordered by when each is next due: a binary min-heap on
-- (due, i), `i` being the wait's target index: waits due at the same moment come out in target
-- order (the 10,000 first polls of a fan-out leave in the order the targets were given).
local due = {}
due.__index = due

function due.new()
  return setmetatable({ n = 0 }, due)
end

-- Adds w (a table with a unique integer `i`), due at time `at` (kept in w.due). The
-- comparisons are written out, not a function called: a 10,000-wait fan-out makes 40,000 of
-- these pushes and pops, each ~14 levels deep.
function due:push(w, at)
  w.due = at
  local n = self.n + 1
  self.n = n
  local wi = w.i
  -- Sift up: the parent of slot i is slot i // 2.
  local i = n
  while i > 1 do
    local parent = i // 2
    local p = self[parent]
    local pd = p.due
    if pd < at or (pd == at and p.i < wi) then break end
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
    local ld, li = last.due, last.i
    local i = 1
    while true do
      local child = i * 2
      if child > n then break end
      local c = self[child]
      local cd = c.due
      if child < n then
        local r = self[child + 1]
        local rd = r.due
        if rd < cd or (rd == cd and r.i < c.i) then child, c, cd = child + 1, r, rd end
      end
      if cd > ld or (cd == ld and c.i > li) then break end
      self[i] = c
      i = child
    end
    self[i] = last
  end
  return top
end

return due
