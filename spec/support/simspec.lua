-- The frame the taskrun-sim specs share: a runbook prelude with the simulator's URL, an admin
-- helper and emit(), and the runner that decodes what a runbook emitted.
local H = require("harness")
local cjson = require("cjson")
local assert = require("luassert")

local S = {}

-- Every runbook starts from a reset simulator; `emit` prints one JSON value per line, `seen`
-- turns a response into a plain table it can emit.
S.PRELUDE = [[
local http = require("taskrun.http")
local json = require("taskrun.json")
local base = os.getenv("TASKRUN_SIM_URL")
local function admin(method, path, body)
  local res = http.request({ method = method, url = base .. path, json = body,
                             max_retry_after = 0 })
  if res.status >= 300 then error("admin " .. path .. ": " .. res.status .. " " .. res.body) end
  return res:json()
end
local function emit(v) print(json.encode(v)) end
local function seen(res)
  local body = res.body
  if (res.headers["content-type"] or ""):find("json") and body ~= "" then body = res:json() end
  return { status = res.status, body = body, headers = res.headers }
end
admin("POST", "/_sim/reset")
]]

-- Returns run(sim, script, env): runs the prelude, then `locals` (a spec file's own
-- definitions), then script, against sim, with `env` (optional) added to the environment;
-- returns what the script emitted, one decoded JSON value a line.
function S.runner(locals)
  return function(sim, script, env)
    local r = H.run({ script = S.PRELUDE .. locals .. script, env = H.sim_env(sim, env) })
    assert.are.equal(0, r.code, r.stderr)
    local out = {}
    for line in r.stdout:gmatch("[^\n]+") do out[#out + 1] = cjson.decode(line) end
    return out
  end
end

-- Stops sim. Exit 0 also means the sanitizer build found no leak and no error.
function S.stop(sim)
  local r = sim.stop()
  assert.are.equal(0, r.code, r.stderr)
end

return S
