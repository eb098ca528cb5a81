-- taskrun-sim under garbage: random bytes, broken HTTP, oversized requests, bad JSON and odd
-- methods. Whatever arrives, the simulator answers or closes, and keeps serving afterwards.
local H = require("harness")

-- Writes what the shell command prints to a fresh connection, reads until the server closes it
-- (or a second passes), and returns the first line of the answer.
local function blast(sim, producer)
  local port = sim.url:match(":(%d+)$")
  local out = os.tmpname()
  local script = H.write_tmp("exec 3<>/dev/tcp/127.0.0.1/" .. port .. " || exit 1\n"
    .. "{ " .. producer .. "; } >&3 2>/dev/null\n"
    .. "timeout 1 cat <&3 >" .. H.quote(out) .. "\n", ".sh")
  os.execute("bash " .. H.quote(script) .. " 2>/dev/null")
  local first = (H.read_file(out):match("^[^\r\n]*")) or ""
  os.remove(out)
  os.remove(script)
  return first
end

describe("taskrun-sim given garbage", function()
  local sim
  setup(function() sim = H.start_sim() end)

  it("answers or closes on broken HTTP and stays up", function()
    local answers = {
      blast(sim, "head -c 65536 /dev/urandom"),
      blast(sim, "printf 'GET /'; head -c 200000 /dev/zero | tr '\\0' a; printf ' HTTP/1.1\\r\\n\\r\\n'"),
      blast(sim, "printf 'GET /_sim/echo HTTP/1.1\\r\\nHost: x\\r\\nX-Big: '; "
        .. "head -c 200000 /dev/zero | tr '\\0' b; printf '\\r\\n\\r\\n'"),
      blast(sim, "printf 'GET / HTTP/9.9\\r\\nHost: x\\r\\n\\r\\n'"),
      blast(sim, "printf 'POST /v1/cloud-storage/topics/mount HTTP/1.1\\r\\nHost: x\\r\\n"
        .. "Transfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\nnot a chunk\\r\\n'"),
      blast(sim, "printf 'POST /zones/z/installs HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 900\\r\\n"
        .. "\\r\\n{\"package_id\":'"),
      blast(sim, "printf '\\0\\0\\0\\r\\n\\r\\n'"),
      blast(sim, "printf 'GET /_sim/echo?%%zz=%%%%\\xff HTTP/1.1\\r\\nHost: x\\r\\nX: \\xff\\xfe\\r\\n\\r\\n'"),
    }
    -- Refusals come as a 4xx/5xx, unless the close overtakes the answer: the server stops
    -- reading a request it refuses, and unread bytes make the kernel reset the connection.
    for i = 1, 7 do
      assert.is_truthy(answers[i] == "" or answers[i]:match("^HTTP/1%.1 [45]%d%d"), answers[i])
    end
    assert.matches("^HTTP/1%.1 200", answers[8])
    local r = H.run({ env = H.sim_env(sim), script = [[
      local http = require("taskrun.http")
      print(http.get(os.getenv("TASKRUN_SIM_URL") .. "/_sim/stats").status)
    ]] })
    assert.are.equal("200\n", r.stdout)
  end)

  it("answers bad JSON, odd methods and oversized bodies in each vendor's envelope", function()
    local r = H.run({ env = H.sim_env(sim), script = [==[
      local http = require("taskrun.http")
      local base = os.getenv("TASKRUN_SIM_URL")
      local targets = {
        { "/v1/cloud-storage/topics/mount", "Bearer sim-redpanda-token", "code" },
        { "/v1/cloud-storage/mount-tasks/1", "Bearer sim-redpanda-token", "code" },
        { "/zones/z/installs", "Bearer sim-keycard-token", "code" },
        { "/accounts/8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e/k8s/v1/apps/a/appBackups",
          "Bearer sim-astra-token", "type" },
        { "/account/account-sim00001/providers/cloudmanager_cbs/api/v3/restore",
          "Bearer sim-bluexp-token", "error" },
      }
      local bodies = { "", "{", "null", "[[[[[[[[[[", '{"a":' .. string.rep("9", 5000) .. "}",
                       "\255\254\0garbage", string.rep("[", 100000) }
      local codes, envelopes = {}, 0
      for _, t in ipairs(targets) do
        local headers = { Authorization = t[2], ["x-agent-id"] = "simAgent0001clients" }
        for _, b in ipairs(bodies) do
          local res = http.post(base .. t[1], { headers = headers, body = b })
          codes[res.status] = true
          if res:json()[t[3]] ~= nil then envelopes = envelopes + 1 end
        end
        for _, m in ipairs({ "BREW", "PROPFIND", "PATCH", "OPTIONS" }) do
          local res = http.request({ method = m, url = base .. t[1], headers = headers, body = "" })
          codes[res.status] = true
          if res:json()[t[3]] ~= nil then envelopes = envelopes + 1 end
        end
        local big = http.post(base .. t[1], { headers = headers, body = string.rep("x", 5000000) })
        codes[big.status] = true
        if big:json()[t[3]] ~= nil then envelopes = envelopes + 1 end
      end
      local seen = {}
      for c in pairs(codes) do seen[#seen + 1] = c end
      table.sort(seen)
      print(table.concat(seen, " "), envelopes)
      print(http.get(base .. "/v1/cloud-storage/mount-tasks", {
        headers = { Authorization = "Bearer sim-redpanda-token" } }).status)
    ]==] })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("400 405 413\t" .. (5 * 12) .. "\n200\n", r.stdout)
  end)

  it("stops cleanly afterwards: exit 0 and no sanitizer report", function()
    local r = sim.stop()
    assert.are.equal(0, r.code)
    assert.is_nil(r.stderr:find("Sanitizer", 1, true))
    assert.is_nil(r.stderr:find("runtime error", 1, true))
  end)
end)
