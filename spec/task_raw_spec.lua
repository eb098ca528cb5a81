-- A Task's raw: a Task read from a small body keeps the body's text and decodes raw when it is
-- first read (the decoded object is a tree the collector would walk for as long as the Task
-- lives). What a runbook sees must not change: the same object, read once, listed by pairs and
-- json.encode; only rawget and next find it missing before the first read.
local H = require("harness")

local function ok(script)
  local r = H.run_sim(script)
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout
end

-- A prelude: one fresh Task of each provider's single-task read, in a table by name.
local FOUR = [[
  local function four()
    local b = sim.task({ provider = "bluexp", shape = "array", steps = { "IN_PROGRESS" } })
    local o = sim.task({ provider = "bluexp", shape = "object", steps = { "IN_PROGRESS" } })
    local a = sim.task({ provider = "astra", steps = { "running" } })
    local k = sim.task({ provider = "keycard", zone = "z1", steps = { "running" } })
    sim.task({ provider = "redpanda", id = 7, steps = { "STATE_EXECUTING" } })
    sim.task({ provider = "redpanda", id = 8, shape = "bare", steps = { "STATE_PREPARED" } })
    return {
      { "bluexp-array", function() return taskrun.bluexp.job(b.id) end },
      { "bluexp-object", function() return taskrun.bluexp.job(o.id) end },
      { "astra", function() return taskrun.astra.task(a.id) end },
      { "keycard", function() return taskrun.keycard.catalog_task("z1", k.id) end },
      { "redpanda", function() return taskrun.redpanda.mount_task(7) end },
      { "redpanda-bare", function() return taskrun.redpanda.mount_task(8) end },
    }
  end
]]

describe("a Task's raw", function()
  it("is decoded from the body's text when first read, once, and is the vendor's object", function()
    local out = ok(FOUR .. [[
      for _, p in ipairs(four()) do
        local t = p[2]()
        local before = rawget(t, "raw")
        local raw = t.raw
        -- the vendor object: its id is the Task's (as the vendor writes it)
        print(p[1], before == nil, type(raw), t.raw == raw, rawget(t, "raw") == raw,
          tostring(raw.id) == tostring(t.id))
      end
    ]])
    local want = {}
    for _, name in ipairs({ "bluexp-array", "bluexp-object", "astra", "keycard", "redpanda",
                            "redpanda-bare" }) do
      want[#want + 1] = name .. "\ttrue\ttable\ttrue\ttrue\ttrue\n"
    end
    assert.are.equal(table.concat(want), out)
  end)

  it("is listed by pairs and written by json.encode before it is read", function()
    local out = ok(FOUR .. [[
      for _, p in ipairs(four()) do
        local t, u = p[2](), p[2]()
        local keys = {}
        for k in pairs(t) do keys[#keys + 1] = k end
        table.sort(keys)
        local text = taskrun.json.encode(u)
        local back = taskrun.json.decode(text)
        print(p[1], table.concat(keys, ","), type(back.raw), back.raw.id ~= nil,
          taskrun.json.encode(back.raw) == taskrun.json.encode(u.raw))
      end
    ]])
    for line in out:gmatch("[^\n]+") do
      assert.truthy(line:find("%f[%w]raw%f[^%w]"), line)
      assert.truthy(line:find("\ttable\ttrue\ttrue$"), line)
    end
    assert.are.equal(6, select(2, out:gsub("\n", "")))
  end)

  it("set before it is read replaces the vendor's; a step may return a Task",
    function()
    local out = ok([[
      local b = sim.task({ provider = "bluexp", steps = { "IN_PROGRESS" } })
      local t = taskrun.bluexp.job(b.id)
      t.raw = { mine = true }
      print(t.raw.mine, rawget(t, "raw").mine)
      t.note = "kept"
      print(rawget(t, "note"))
      local got = taskrun.step("read", function() return taskrun.bluexp.job(b.id) end)
      print(got.raw.id == b.id)
    ]])
    assert.are.equal("true\ttrue\nkept\ntrue\n", out)
  end)

  it("is decoded at once from a long list, and each job of a short one is its own", function()
    local out = ok([[
      for i = 1, 2 do sim.task({ provider = "bluexp", type = "restore-volume", steps = { "PENDING" } }) end
      local short = taskrun.bluexp.restore_jobs()
      print(#short, rawget(short[1], "raw") == nil, rawget(short[2], "raw") ~= nil,
        short[1].raw.id == short[1].id, short[2].raw.id == short[2].id)
      -- past 4 KiB of body: every Task holds its object from the start
      for i = 1, 40 do sim.task({ provider = "bluexp", type = "restore-volume", steps = { "PENDING" } }) end
      local long, eager, right = taskrun.bluexp.restore_jobs(), 0, 0
      for _, t in ipairs(long) do
        if rawget(t, "raw") ~= nil then eager = eager + 1 end
        if t.raw.id == t.id then right = right + 1 end
      end
      print(#long, eager, right)
    ]])
    assert.are.equal("2\ttrue\ttrue\ttrue\ttrue\n42\t42\t42\n", out)
  end)
end)
