-- One place per provider: bindings/providers.def lists the providers; everything else (the
-- taskrun.NAME modules, the descriptors, the settings checks) follows from it.
local H = require("harness")

local function names_in_def()
  local names = {}
  for name in H.read_file("bindings/providers.def"):gmatch("\nTR_PROVIDER%((%w+)%)") do
    names[#names + 1] = name
  end
  return names
end

local function run(script, env)
  local r = H.run({ script = script, env = env })
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout
end

describe("the provider registry", function()
  it("gives every provider of providers.def a module, a descriptor and its two files", function()
    local names = names_in_def()
    assert.are.same({ "redpanda", "keycard", "astra", "bluexp" }, names)
    for _, name in ipairs(names) do
      assert.is_truthy(io.open("bindings/" .. name .. ".c"), name)
      assert.is_truthy(io.open("stdlib/taskrun/" .. name .. ".lua"), name)
    end
    local out = run([[
      local specs = require("taskrun._provider")
      local list = {}
      for name, spec in pairs(specs) do
        list[#list + 1] = string.format("%s %s %s %s", name, spec.name,
          type(taskrun[name].client), spec.credentials.token_env)
      end
      table.sort(list)
      print(table.concat(list, "\n"))
    ]])
    assert.are.equal("astra astra function ASTRA_TOKEN\nbluexp bluexp function BLUEXP_TOKEN\n"
      .. "keycard keycard function KEYCARD_TOKEN\nredpanda redpanda function REDPANDA_TOKEN\n",
      out)
  end)

  it("describes each provider's credentials and extra settings in its descriptor", function()
    local out = run([[
      local specs = require("taskrun._provider")
      local c = specs.redpanda.credentials
      print(c.grant, c.client_id_env, c.client_secret_env, c.auth_url_env, c.default_auth_url,
        c.audience)
      c = specs.keycard.credentials
      print(c.grant, c.client_id_env, c.client_secret_env, c.auth_path, c.auth_url_env)
      c = specs.bluexp.credentials
      print(c.grant, c.refresh_token_env, c.client_id_env, c.default_client_id, c.auth_url_env,
        c.default_auth_url)
      print(specs.astra.credentials.grant, #specs.redpanda.settings)
      for _, s in ipairs(specs.bluexp.settings) do print(s.env, s.option) end
    ]])
    assert.are.equal(
      "client_credentials\tREDPANDA_CLIENT_ID\tREDPANDA_CLIENT_SECRET\tREDPANDA_AUTH_URL\t"
      .. "https://auth.prd.cloud.redpanda.com/oauth/token\tcloudv2-production.redpanda.cloud\n"
      .. "client_credentials_basic\tKEYCARD_CLIENT_ID\tKEYCARD_CLIENT_SECRET\t"
      .. "/service-account-token\tnil\n"
      .. "refresh_token\tBLUEXP_REFRESH_TOKEN\tBLUEXP_AUTH_CLIENT_ID\t"
      .. "Mu0V1ywgYteI6w1MbD15fKfVIUrNXGWC\tBLUEXP_AUTH_URL\t"
      .. "https://netapp-cloud-account.auth0.com/oauth/token\n"
      .. "nil\t0\nBLUEXP_ACCOUNT_ID\taccount\nBLUEXP_AGENT_ID\tagent_id\n", out)
  end)

  it("builds a Task from normalized fields, its status from the state or as given", function()
    local out = run([[
      local rp = require("taskrun._provider").redpanda
      local t = rp.task_of({ id = 7, state = "STATE_CUT_OVER" })
      print(t.provider, t.id, t.state, t.status, t.done, t.ok, next(t.raw))
      t = rp.task_of({ id = 7, state = "STATE_FINISHED", status = "succeeded",
                       message = "inferred" }, { id = 7 })
      print(t.status, t.done, t.ok, t.message, t.raw.id)
      t = require("taskrun._provider").keycard.task_of({ id = "x", status = "failed" })
      print(t.state, t.status, t.done, t.ok)
      local ok, err = pcall(rp.task_of, { id = 1, status = "finished" })
      print(ok, err.kind, err.message)
    ]])
    assert.are.equal("redpanda\t7\tSTATE_CUT_OVER\trunning\tfalse\tfalse\tnil\n"
      .. "succeeded\ttrue\ttrue\tinferred\t7\n"
      .. "nil\tfailed\ttrue\tfalse\n"
      .. "false\tusage\tredpanda: task_of: finished is not a task status\n", out)
  end)
end)

describe("settings problems", function()
  it("lists every missing variable of a default client at once, each with what would do",
    function()
    local out = run([[
      local p = require("taskrun.provider")
      for _, name in ipairs({ "redpanda", "astra", "bluexp", "keycard" }) do
        print(name, #p.problems(name))
        for _, problem in ipairs(p.problems(name)) do print("", problem) end
      end
    ]], { REDPANDA_DATAPLANE_URL = false, ASTRA_ACCOUNT_ID = false, ASTRA_URL = false,
          BLUEXP_ACCOUNT_ID = false, BLUEXP_AGENT_ID = false, KEYCARD_API_URL = false,
          REDPANDA_TOKEN = "tok-x9", ASTRA_TOKEN = "tok-x9", BLUEXP_TOKEN = "tok-x9",
          KEYCARD_TOKEN = "tok-x9" })
    assert.are.equal("redpanda\t1\n"
      .. "\tREDPANDA_DATAPLANE_URL is not set; set it to your cluster's data-plane URL (the "
      .. "Control Plane API's dataplane_api.url), or pass url = ... to redpanda.client{}\n"
      .. "astra\t1\n\tASTRA_ACCOUNT_ID is not set; set it, or pass account = ... to "
      .. "astra.client{}\n"
      .. "bluexp\t2\n\tBLUEXP_ACCOUNT_ID is not set; set it, or pass account = ... to "
      .. "bluexp.client{}\n\tBLUEXP_AGENT_ID is not set; set it, or pass agent_id = ... to "
      .. "bluexp.client{}\n"
      .. "keycard\t0\n", out)
  end)

  it("refuses a client with one usage error naming every missing variable; exit 2", function()
    -- taskrun["bluexp"]: unseen by the settings pre-check (settings_spec), so the client answers
    local r = H.run({ script = 'taskrun["bluexp"].restore_jobs()',
      env = { BLUEXP_URL = "http://127.0.0.1:1", BLUEXP_TOKEN = "tok-x9",
              BLUEXP_ACCOUNT_ID = false, BLUEXP_AGENT_ID = false } })
    assert.are.equal(2, r.code)
    assert.matches("usage: bluexp: 2 settings are missing: BLUEXP_ACCOUNT_ID is not set; set "
      .. "it, or pass account = ... to bluexp.client{}; and BLUEXP_AGENT_ID is not set",
      r.stderr, 1, true)
  end)

  it("counts an explicit client's options as settings", function()
    local out = run([[
      local p = require("taskrun.provider")
      print(#p.problems("bluexp", { account = "a", agent_id = "b" }))
      print(taskrun.bluexp.client{ account = "a", agent_id = "b" }.account)
    ]], { BLUEXP_URL = "http://127.0.0.1:1", BLUEXP_TOKEN = "tok-x9", BLUEXP_ACCOUNT_ID = false,
          BLUEXP_AGENT_ID = false })
    assert.are.equal("0\na\n", out)
  end)
end)
