-- Which journal a durable spec runs against: SQLite in a state directory of its own (the
-- default), or PostgreSQL when the spec file that loads the spec sets SPEC_JOURNAL = "pg" first
-- (spec/journal_pg_spec.lua and the like): one throwaway cluster per spec file (pg.lua), and a
-- schema of its own per env() so that no test sees another's runs or locks.
local H = require("harness")

local B = { name = rawget(_G, "SPEC_JOURNAL") or "sqlite" }
local pg, n = nil, 0

-- The cluster of this spec file, started on first use.
function B.pg()
  if not pg then pg = require("pg").start() end
  return pg
end

-- The environment of a journal of its own, under the temp directory `dir`.
function B.env(dir)
  if B.name ~= "pg" then return { TASKRUN_STATE_DIR = dir .. "/state" } end
  n = n + 1
  B.schema = string.format("spec_%d_%d", os.time() % 100000, n)
  return { TASKRUN_STATE_DIR = dir .. "/state", TASKRUN_JOURNAL_URL = B.pg().url,
           TASKRUN_JOURNAL_SCHEMA = B.schema }
end

-- A taskrun killed with SIGKILL holds its locks until the server has seen its connection close,
-- a moment after the process is gone: wait for that (the server's own view, polled), so that
-- the next start finds the key free as it would a while later.
if B.name == "pg" then
  H.after_kill = function(pid)
    for _ = 1, 1000 do
      local left = pg and tonumber(pg:psql("SELECT count(*) FROM pg_stat_activity WHERE "
        .. "application_name LIKE 'taskrun[" .. math.tointeger(pid) .. "]%'")) or 0
      if left == 0 then return end
      os.execute("sleep 0.01")
    end
    error("the server never saw killed taskrun " .. pid .. "'s connections close")
  end
end

return B
