-- The live status block: while waits run and stderr is a terminal, one line per wait at the
-- bottom of the screen (a summary line past a screenful), redrawn a few times a second by a task
-- of its own. runtime/status.c owns the screen: it takes the block away around every log line,
-- cuts lines to the width and redacts secrets; runtime/output.c takes it away around the
-- runbook's own print, io.write and io.stdout/io.stderr writes. This module only says what the
-- lines are.
local core = require("taskrun._core")

local status = {}

-- Off with --quiet, --log-format json, or stderr not a terminal: then heartbeats log instead.
status.live = core.status_live

local EVERY = 0.25   -- seconds between redraws: lively enough, and cheap with 10,000 waits

local colors = { pending = "33", running = "36", succeeded = "32", failed = "31",
                 cancelled = "35" }

local waits = {}     -- in the order they started; ended ones leave at the next draw
local count = 0
local ticker         -- the redrawing task, while any wait is active

local function human(seconds)
  return require("taskrun.wait").human(seconds)
end

-- Vendor text must not move the cursor, nor cost a pass over a megabyte four times a second:
-- a line is cut to the terminal's width anyway.
local function clean(s)
  return (require("taskrun.provider").clip(tostring(s), 200):gsub("%c", "?"))
end

local function paint(word, st)
  local c = core.color and colors[st]
  return c and string.format("\27[%sm%s\27[0m", c, word) or word
end

-- "9950" -> "9,950"
local function thousands(n)
  local s = tostring(n):reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (s:gsub("^,", ""))
end

-- "bluexp task 7: IN_PROGRESS 45% (2m10s, 57m50s left)", like the transition lines.
local function line_of(w, now)
  local t = w.task
  local state = t and paint(clean(t.state), t.status) or "starting"
  local progress = t and t.progress and string.format(" %s%%", clean(t.progress)) or ""
  return string.format("%s: %s%s (%s, %s left)", clean(w.label), state, progress,
    human(now - w.started), human(math.max(0, w.deadline - now)))
end

-- "and 9,950 more: 9,000 running, 950 pending", most frequent first.
local function summary_of(list, from, shown)
  local by = {}
  for i = from, #list do
    local st = list[i].task and list[i].task.status or "starting"
    by[st] = (by[st] or 0) + 1
  end
  local parts = {}
  for st, n in pairs(by) do parts[#parts + 1] = { st, n } end
  table.sort(parts, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  for i, p in ipairs(parts) do parts[i] = thousands(p[2]) .. " " .. p[1] end
  local head = shown > 0 and "and " .. thousands(#list - from + 1) .. " more"
    or thousands(#list) .. " waits"
  return head .. ": " .. table.concat(parts, ", ")
end

local function draw()
  local kept = {}
  for _, w in ipairs(waits) do
    if not w.ended then kept[#kept + 1] = w end
  end
  waits = kept
  -- A screenful less two rows: the last log line stays in sight above the block. (core.status
  -- takes up to 256 lines.)
  local rows = core.term_size()
  local room = math.max(1, math.min(rows, 200) - 2)
  local shown = #kept <= room and #kept or room - 1
  local now, lines = core.now(), {}
  for i = 1, shown do lines[i] = line_of(kept[i], now) end
  if #kept > shown then lines[#lines + 1] = summary_of(kept, shown + 1, shown) end
  core.status(lines)
end

local function tick()
  while true do
    draw()
    core.sleep(EVERY)
  end
end

-- The block goes away: the last wait ended, or the run is being interrupted.
function status.stop()
  if ticker then ticker:cancel() end
  for _, w in ipairs(waits) do w.ended = true end
  ticker, waits, count = nil, {}, 0
  core.status(nil)
end

-- w: a wait's state with label, task (the last Task seen, or nil), started and deadline.
function status.add(w)
  if not status.live then return end
  waits[#waits + 1] = w
  count = count + 1
  ticker = ticker or core.spawn(tick)
end

function status.remove(w)
  if not status.live or w.ended then return end
  w.ended = true
  count = count - 1
  if count == 0 then status.stop() end
end

return status
