-- The redactor on a print-heavy runbook: 100,000 prints and 100,000 log lines, first with no
-- secret registered (the baseline, measured in the same run), then with 4 registered tokens.
-- Usage: ./taskrun bench/print.lua [N] >/dev/null 2>bench.log; tail -4 bench.log
local n = tonumber(arg[1]) or 100000
local line = "bluexp task 7: IN_PROGRESS -> COMPLETED (progress 45%, elapsed 2m10s) at "
  .. "https://api.bluexp.netapp.com/v1/jobs/7?token=x"

local function measure(what)
  local t0 = os.clock()
  if what == "print" then
    for i = 1, n do print(line, i) end
  else
    for i = 1, n do taskrun.log.info(line, { i = i, state = "IN_PROGRESS" }) end
  end
  return os.clock() - t0
end

local base = { print = measure("print"), log = measure("log") }
for _, s in ipairs({ "tok-rp-SECRET-1234", "tok-kc-SECRET-5678", "tok-as-SECRET-9012",
                     "tok-bx-SECRET-3456" }) do
  taskrun.secret(s)
end
for _, what in ipairs({ "print", "log" }) do
  local t = measure(what)
  io.stderr:write(string.format("%d %s: %.3f s CPU with 4 secrets, %.3f s with none (x%.2f)\n",
    n, what == "print" and "prints" or "log lines", t, base[what], t / base[what]))
end
