-- One scenario of a durable vendor call: a simulator of its own (the vendor, outliving the
-- taskrun processes), a state directory and a runbook file of its own (a fresh run key).
--
--   local s = durable_sim.setup({ runbook = RUNBOOK, token = "sim-astra-token",
--                                 finally = finally })
--
-- `finally` is busted's, passed in (a required module does not see it): a failed assertion must
-- not leave the simulator running, or busted would wait for it.
local H = require("harness")
local backend = require("backend")
local assert = require("luassert")

local M = {}

function M.setup(opts)
  local s = { dir = H.tmpdir() }
  s.sim = H.start_sim()
  opts.finally(function() if not s.stopped then s.sim.stop() end end)
  s.script = H.write_tmp(opts.runbook, ".lua")
  s.env = H.sim_env(s.sim, backend.env(s.dir))

  -- The simulator: its admin endpoints, or the vendor's API with the sim's token.
  function s.call(method, path, body)
    return (s.sim.call(method, path, body, opts.token))
  end
  -- The requests of `method` the simulator saw whose path is exactly `path` (or starts with it
  -- when `prefix`).
  function s.requests(method, path, prefix)
    local out = {}
    for _, r in ipairs(s.call("GET", "/_sim/requests?method=" .. method).requests) do
      if r.path == path or prefix and r.path:sub(1, #path) == path then out[#out + 1] = r end
    end
    return out
  end
  function s.run(args)
    return H.run({ script_path = s.script, args = args, env = s.env })
  end
  function s.spawn(args)
    return H.spawn({ script_path = s.script, args = args, env = s.env })
  end
  -- Starts the runbook, waits until the simulator has the request (`method` on `path`) that a
  -- latency fault holds the answer of, and kills the runbook with SIGKILL.
  function s.kill_in_flight(args, method, path)
    s.call("POST", "/_sim/faults", { kind = "latency", method = method, path = path, ms = 20000 })
    local p = s.spawn(args)
    for _ = 1, 3000 do
      if #s.requests(method, path) > 0 then break end
      os.execute("sleep 0.01")
    end
    assert.are.equal(1, #s.requests(method, path), "the request never arrived")
    p:kill("KILL")
    assert.are.equal(137, p:wait().code)
  end
  -- A finished scenario ends its simulator: exit 0 also says the sanitizer build saw nothing
  -- wrong.
  function s.finish()
    s.stopped = true
    local r = s.sim.stop()
    assert.are.equal(0, r.code, r.stderr)
  end
  return s
end

return M
