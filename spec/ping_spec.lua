-- --ping URL, healthchecks.io's way, against a local listener (build/taskrun-stub --record,
-- which writes each request it gets to a file): URL/start when the run starts, URL on exit 0,
-- URL/<exit code> otherwise with the tail of the log, one rid for both; a ping that fails is a
-- warning and never the run's exit code; the URL never shows.
local H = require("harness")

local OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"
-- The check's key, as healthchecks.io puts it in the URL's path.
local KEY = "5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"

-- A listener answering `responses` (default: 200 OK to everything), recording every request.
local function listener(responses, opts)
  local dir = H.tmpdir()
  opts = opts or {}
  opts.record = dir
  local stub = H.start_stub(responses or { OK }, opts)
  finally(stub.stop)
  -- The requests it got, in order: { method =, path =, query =, headers =, body = }.
  function stub.requests()
    local out = {}
    for n = 1, 100 do
      local f = io.open(dir .. "/" .. n, "rb")
      if not f then break end
      local raw = f:read("a")
      f:close()
      local head, body = raw:match("^(.-)\r\n\r\n(.*)$")
      local method, target = head:match("^(%u+) (%S+) HTTP/1%.1\r\n")
      local path, query = target:match("^([^?]*)%??(.*)$")
      out[n] = { method = method, path = path, query = query, head = head, body = body }
    end
    return out
  end
  return stub
end

local function run(url, code, env, flags)
  local f = { "--no-journal", "--ping", url }
  for _, x in ipairs(flags or {}) do f[#f + 1] = x end
  f[#f + 1] = "-e"
  f[#f + 1] = code
  return H.run({ flags = f, env = env })
end

local UUID = "^rid=(%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x)$"

describe("--ping", function()
  it("POSTs URL/start at the start and URL at exit 0, with one rid, a UUID", function()
    local stub = listener()
    local r = run(stub.url .. "/" .. KEY, 'print("done")')
    stub.stop()
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("done\n", r.stdout)
    local reqs = stub.requests()
    assert.are.equal(2, #reqs)
    assert.are.same({ "POST", "/" .. KEY .. "/start" }, { reqs[1].method, reqs[1].path })
    assert.are.same({ "POST", "/" .. KEY }, { reqs[2].method, reqs[2].path })
    local rid = reqs[1].query:match(UUID)
    assert.is_truthy(rid, reqs[1].query)
    assert.are.equal("rid=" .. rid, reqs[2].query)
    assert.matches("a run of %-e started", reqs[1].body)
    assert.matches("finished with exit 0", reqs[2].body)
    assert.matches("\r\nUser%-Agent: taskrun/", reqs[1].head)
  end)

  it("names the journaled run and its attempt in the body", function()
    local stub = listener()
    local state = H.tmpdir()
    local r = H.run({ flags = { "--ping", stub.url .. "/" .. KEY, "--state-dir", state,
      "--run-id", "nightly" }, script = 'print("ok")' })
    stub.stop()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^run nightly %(attempt 1%) of lua_%w+%.lua started\n$",
      stub.requests()[1].body)
  end)

  it("POSTs URL/<exit code> on a failure, with the tail of the log as the body", function()
    local stub = listener()
    local r = run(stub.url .. "/" .. KEY .. "/", [[
      for i = 1, 500 do taskrun.log.info(string.format("step %03d ", i) .. string.rep("y", 60)) end
      error(taskrun.error("failed", "the restore failed"))]])
    stub.stop()
    assert.are.equal(3, r.code, r.stderr)
    local reqs = stub.requests()
    assert.are.equal(2, #reqs)
    assert.are.equal("/" .. KEY .. "/3", reqs[2].path)
    assert.are.equal(reqs[1].query, reqs[2].query)
    local body = reqs[2].body
    assert.is_true(#body <= 10000, #body .. " bytes")
    -- the end of the log, from a line's start
    assert.matches("^[%dTZ:.-]+ INFO  step %d+ y+\n", body)
    assert.matches("INFO  step 500 y+\ntaskrun: failed: the restore failed\n\tat %(command "
      .. "line%):2\n$", body)
    -- stderr is the whole log, as without --ping
    assert.matches("INFO  step 001 ", r.stderr, 1, true)
  end)

  it("that fails is a warning, and the exit code is the run's: nothing listens", function()
    -- a port just closed: nothing listens there
    local stub = listener()
    stub.stop()
    for _, case in ipairs({ { 'print("x")', 0 }, { 'os.exit(3)', 3 } }) do
      local r = run(stub.url .. "/" .. KEY, case[1])
      assert.are.equal(case[2], r.code, r.stderr)
      local _, n = r.stderr:gsub("WARN  ping [^\n]+ failed after 3 tries: [^\n]*Couldn't connect"
        .. "[^\n]*; the run's exit code is not changed by it\n", "")
      assert.are.equal(2, n, r.stderr)
    end
  end)

  it("that fails is a warning: an error status, and an endpoint that never answers stops "
    .. "after TASKRUN_PING_TIMEOUT", function()
    local stub = listener({ "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found" })
    local r = run(stub.url .. "/" .. KEY, 'print("x")')
    stub.stop()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("WARN  ping http://127.0.0.1:%d+/%[REDACTED%]/start answered 404: not found;",
      r.stderr)
    local hung = listener({ "" }, { hold = true })
    r = run(hung.url .. "/" .. KEY, 'os.exit(4)', { TASKRUN_PING_TIMEOUT = "0.5s" })
    hung.stop()
    assert.are.equal(4, r.code, r.stderr)
    local _, n = r.stderr:gsub("WARN  ping [^\n]+ failed after 1 try: [^\n]*[Tt]imed out", "")
    assert.are.equal(2, n, r.stderr)
  end)

  it("never shows the URL's key, nor a password in it", function()
    local stub = listener({ "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n" })
    local url = stub.url:gsub("^http://", "http://ops:hunter2secret@") .. "/ping/" .. KEY
    local r = run(url, 'taskrun.log.info("key " .. "' .. KEY .. '")\nprint("' .. KEY .. '")',
      nil, { "--log-level", "debug" })
    stub.stop()
    assert.are.equal(0, r.code, r.stderr)
    for _, out in ipairs({ r.stdout, r.stderr }) do
      assert.is_nil(out:find(KEY, 1, true), out)
      assert.is_nil(out:find("hunter2secret", 1, true), out)
    end
    assert.matches("ping http://ops:%[REDACTED%]@127%.0%.0%.1:%d+/%[REDACTED%]/start answered "
      .. "500", r.stderr)
  end)

  it("is refused before anything runs when it is not an http(s) URL", function()
    local r = run("ftp://example.com/x", 'print("ran")')
    assert.are.equal(2, r.code)
    assert.are.equal("", r.stdout)
    assert.matches("bad --ping URL", r.stderr, 1, true)
  end)

  it("sends nothing for a start that found its lock held (exit 75): it ran nothing", function()
    local stub = listener()
    local state = H.tmpdir()
    local holder = H.spawn({ flags = { "--lock", "x", "--state-dir", state },
      script = 'print("ready") io.stdout:flush() taskrun.sleep(60)' })
    assert.are.equal("ready", holder:line())
    local r = H.run({ flags = { "--lock", "x", "--state-dir", state, "--ping",
      stub.url .. "/" .. KEY }, script = 'print("ran")' })
    holder:kill("TERM")
    holder:wait()
    stub.stop()
    assert.are.equal(75, r.code, r.stderr)
    assert.are.same({}, stub.requests())
  end)
end)
