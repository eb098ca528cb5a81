-- Servers that misbehave on the wire (build/taskrun-stub answers with canned raw bytes): every
-- answer is either read correctly or a clear taskrun error of the documented kind. No crash and
-- no hang in either build: each runbook catches what it calls and prints what it saw, so exit 0
-- also means the sanitizer build found nothing. The harness's hang guard ends a hung run.
local H = require("harness")

local PRELUDE = [[
local http = require("taskrun.http")
local base = os.getenv("TASKRUN_SIM_URL")
local function show(ok, v)
  if ok then return print("ok", v) end
  if type(v) ~= "table" then return print("raw error", tostring(v)) end
  print(v.kind, v.cause, v.provider, v.message)
end
]]

local function response(status, headers, body, eol)
  eol = eol or "\r\n"
  local lines = { "HTTP/1.1 " .. status }
  for _, h in ipairs(headers) do lines[#lines + 1] = h end
  return table.concat(lines, eol) .. eol .. eol .. (body or "")
end

local function json_response(body)
  return response("200 OK", { "Content-Type: application/json", "Connection: close",
    "Content-Length: " .. #body }, body)
end

-- Runs script against a stub answering with `responses`; returns the run and the stub's end.
local function run_against(responses, script, opts)
  opts = opts or {}
  local stub = H.start_stub(responses, opts.stub)
  local env = H.sim_env({ url = stub.url })
  local r = H.run({ script = PRELUDE .. script, env = env, flags = opts.flags })
  stub.stop()
  return r
end

local function lines(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- The lines run r printed, once it is checked to have ended well having printed n of them.
local function printed(r, n)
  assert.are.equal(0, r.code, r.stderr)
  local out = lines(r.stdout)
  assert.are.equal(n, #out, r.stdout)
  return out
end

describe("a misbehaving server", function()
  it("that goes silent after the headers cannot hold a request past its timeout", function()
    local r = run_against({ response("200 OK", { "Content-Type: application/json",
      "Content-Length: 50" }) }, [[
      show(pcall(http.get, base .. "/stall", { timeout = "1s" }))
    ]], { stub = { hold = true } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^transport\ttimeout\tnil\tGET http://127.0.0.1:%d+/stall failed", r.stdout)
  end)

  -- --timeout is the backstop: had a poll in flight outlived the wait's deadline, the run would
  -- end with exit 4 instead of the wait's own error.
  it("that goes silent after the headers cannot hold a wait past its deadline", function()
    local r = run_against({ response("200 OK", { "Content-Type: application/json",
      "Content-Length: 50" }) }, [[
      local ok, err = pcall(taskrun.wait, function() return taskrun.bluexp.job("job1") end,
        { timeout = "2s", name = "job1" })
      print(ok, err.kind)
    ]], { stub = { hold = true }, flags = { "--timeout", "45s" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("false\ttimeout\n", r.stdout)
  end)

  it("that closes in the middle of the body gives a transport error", function()
    local r = run_against({ response("200 OK", { "Content-Length: 100" }, '{"id":"job1",') }, [[
      show(pcall(http.get, base .. "/short"))
      show(pcall(taskrun.bluexp.job, "job1"))
    ]])
    assert.are.equal(0, r.code, r.stderr)
    local out = lines(r.stdout)
    assert.matches("^transport\treset\tnil\t", out[1])
    assert.matches("^transport\treset\t", out[2])
  end)

  it("that sends 10 MB of headers is answered or refused with a transport error", function()
    local pad = ("X-Pad: " .. ("p"):rep(990) .. "\r\n"):rep(10 * 1024)
    local r = run_against({ "HTTP/1.1 200 OK\r\n" .. pad .. "Content-Length: 2\r\n\r\n{}" }, [[
      local ok, res = pcall(http.get, base .. "/headers")
      if ok then print("ok", res.status, res.body) else show(ok, res) end
    ]])
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^transport\t%a+\tnil\tGET http://127.0.0.1:%d+/headers", r.stdout)
  end)

  it("that sends a 70 MB body is stopped at max_body", function()
    local head = response("200 OK", { "Content-Type: application/json", "Connection: close" })
    local r = run_against({ head }, [[
      show(pcall(http.get, base .. "/big"))
      show(pcall(taskrun.bluexp.job, "job1"))
    ]], { stub = { fill = 70 * 1024 * 1024 } })
    local out = printed(r, 2)
    for _, line in ipairs(out) do
      assert.matches("^transport\ttoo_large\t", line)
      assert.matches("larger than the 67108864%-byte cap", line)
    end
  end)

  it("that sends a gzip bomb is stopped at max_body", function()
    local gz = os.tmpname()
    assert(os.execute("head -c 200000000 /dev/zero | gzip -c > " .. H.quote(gz)))
    local bomb = H.read_file(gz)
    os.remove(gz)
    local r = run_against({ response("200 OK", { "Content-Type: application/json",
      "Content-Encoding: gzip", "Connection: close", "Content-Length: " .. #bomb }, bomb) }, [[
      show(pcall(http.get, base .. "/bomb"))
    ]])
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^transport\ttoo_large\tnil\t.*larger than the 67108864%-byte cap", r.stdout)
  end)

  it("with a broken chunked or gzip encoding gives a transport error", function()
    local r = run_against({
      response("200 OK", { "Transfer-Encoding: chunked", "Connection: close" },
        "zz\r\nabc\r\n0\r\n\r\n"),
      -- A valid gzip header, then a deflate block of the reserved type 3.
      response("200 OK", { "Content-Encoding: gzip", "Connection: close", "Content-Length: 14" },
        "\31\139\8\0\0\0\0\0\0\3\255\255\255\255"),
    }, [[
      show(pcall(http.get, base .. "/chunked"))
      show(pcall(http.get, base .. "/gzip"))
    ]])
    local out = printed(r, 2)
    assert.matches("^transport\t%a+\tnil\tGET http://127.0.0.1:%d+/chunked failed", out[1])
    assert.matches("^transport\t%a+\tnil\tGET http://127.0.0.1:%d+/gzip failed", out[2])
  end)

  describe("with a JSON body", function()
    local function decode(bodies, script)
      local responses = {}
      for i, b in ipairs(bodies) do responses[i] = json_response(b) end
      local r = run_against(responses, [[
        local json = require("taskrun.json")
        local function get() return http.get(base .. "/json"):json() end
      ]] .. script)
      assert.are.equal(0, r.code, r.stderr)
      return lines(r.stdout)
    end

    it("holding invalid UTF-8 decodes its bytes unchanged, or raises decode", function()
      local out = decode({ '{"name":"a\255\254b"}' }, [[
        local ok, v = pcall(get)
        if ok then print("ok", v.name == "a\255\254b") else show(ok, v) end
      ]])
      assert.truthy(out[1] == "ok\ttrue" or out[1]:match("^decode\t"), out[1])
    end)

    it("nested 100,000 levels deep raises decode", function()
      local out = decode({ ("["):rep(100000) .. ("]"):rep(100000) }, "show(pcall(get))")
      assert.matches("^decode\tnil\tnil\tGET http://127.0.0.1:%d+/json answered 200", out[1])
    end)

    it("with a number Lua cannot hold (1e400) raises decode", function()
      local out = decode({ "1e400", '{"n":-1e400}' }, "show(pcall(get))\nshow(pcall(get))")
      assert.matches("^decode\t", out[1])
      assert.matches("^decode\t", out[2])
    end)

    it("reads -0 as zero and lets the last of duplicate keys win", function()
      local out = decode({ '{"a":-0,"b":-0.0,"c":[-0]}', '{"k":1,"k":2,"k":"last"}' }, [[
        local v = get()
        print(v.a == 0, v.b == 0, v.c[1] == 0)
        print(get().k)
      ]])
      assert.are.same({ "true\ttrue\ttrue", "last" }, out)
    end)
  end)

  it("answering a provider call with a body that is not an object raises decode", function()
    local bodies = { "null", "42", '"hi"', "[]" }
    local responses = {}
    for i, b in ipairs(bodies) do responses[i] = json_response(b) end
    local r = run_against(responses, [[
      for _ = 1, 4 do show(pcall(taskrun.bluexp.job, "job1")) end
    ]])
    local out = printed(r, 4)
    for i, line in ipairs(out) do
      assert.matches("^decode\tnil\tbluexp\t", line, "body " .. bodies[i])
    end
  end)

  it("whose header lines end in LF only still gives Keycard's install id", function()
    local r = run_against({ response("303 See Other", { "Location: /zones/z1/installs/inst-42",
      "Content-Length: 0", "Connection: close" }, "", "\n") }, [[
      local task = taskrun.keycard.catalog_task("z1", "t1")
      print(task.status, task.install_id)
    ]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("succeeded\tinst-42\n", r.stdout)
  end)
  -- A kept connection stays in taskrun's epoll set between requests (runtime/loop.c). This
  -- stub closes each connection after its one answer, which HTTP/1.1 lets it do: the closed
  -- socket, idle in the set, must be dropped from it, and the next request must go out on a
  -- new connection. The stub serves its nth file on its nth connection, so each answer also
  -- names the connection that carried it.
  it("that closes each kept connection after one answer gets each request on a new one",
    function()
    local function keep_alive(body)
      return response("200 OK", { "Content-Type: application/json",
        "Content-Length: " .. #body }, body)
    end
    local r = run_against({ keep_alive('{"n":1}'), keep_alive('{"n":2}'), keep_alive('{"n":3}'),
      keep_alive('{"n":4}') }, [[
      for i = 1, 4 do
        local ok, res = pcall(http.get, base .. "/" .. i)
        print(ok and res.status, ok and res.body or res.message)
        -- The second and the fourth go out after the loop has seen the idle socket close.
        if i % 2 == 1 then taskrun.sleep(0.05) end
      end
    ]])
    local out = printed(r, 4)
    for i = 1, 4 do assert.are.equal('200\t{"n":' .. i .. '}', out[i]) end
  end)

  -- libcurl before 8.1.0 wrote through a freed header when a reused handle's response began
  -- with a folded line (curl issue #11101); every request now has a handle of its own. The
  -- sanitizer build is the one that would see it.
  it("whose first header line is folded, after another answer, is a transport error", function()
    local r = run_against({ json_response('{"ok":1}'),
      "HTTP/1.1 200 OK\r\n  folded: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}" }, [[
      show(pcall(http.get, base .. "/first"))
      show(pcall(http.get, base .. "/second"))
    ]])
    local out = printed(r, 2)
    assert.matches("^ok\t", out[1])
    assert.matches("^transport\tother\tnil\tGET http://127.0.0.1:%d+/second: the response's "
      .. "headers are malformed", out[2])
  end)
end)
