-- taskrun-sim token endpoints: given the credentials it was configured with, a client that asks
-- the way each vendor documents gets a token the vendor API then takes until it expires or is
-- revoked; wrong credentials get the vendor's OAuth error; no secret reaches the request log.
local H = require("harness")
local S = require("simspec")
local cjson = require("cjson")

local LOCALS = [[
local rp_auth = base .. "/redpanda/oauth/token"
local kc_auth = base .. "/service-account-token"
local bx_auth = base .. "/bluexp/oauth/token"
local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local function b64(s)
  local abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(c)
    local bits = ""
    for i = 8, 1, -1 do bits = bits .. ((c:byte() >> (i - 1)) & 1) end
    return bits
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local n = 0
    for i = 1, 6 do n = n * 2 + tonumber(x:sub(i, i)) end
    return abc:sub(n + 1, n + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
local function rp_form(id, secret, extra)
  return "grant_type=client_credentials&client_id=" .. id .. "&client_secret=" .. secret
    .. (extra or "&audience=cloudv2-production.redpanda.cloud")
end
local function rp_token(id, secret, extra)
  return http.post(rp_auth, { headers = form, body = rp_form(id, secret, extra) })
end
local function kc_token(id, secret, body)
  return http.post(kc_auth, { headers = { ["Content-Type"] = form["Content-Type"],
    Authorization = "Basic " .. b64(id .. ":" .. secret) },
    body = body or "grant_type=client_credentials" })
end
local function bx_token(refresh, client)
  return http.post(bx_auth, { json = { grant_type = "refresh_token", refresh_token = refresh,
    client_id = client or "Mu0V1ywgYteI6w1MbD15fKfVIUrNXGWC" } })
end
local function bearer(token) return { Authorization = "Bearer " .. token } end
-- One authenticated read per provider.
local bx_jobs = base .. "/account/account-sim00001/providers/cloudmanager_cbs/api/v1/job"
local function api(provider, token)
  local h = bearer(token)
  if provider == "redpanda" then
    return http.get(base .. "/v1/cloud-storage/mount-tasks", { headers = h })
  elseif provider == "keycard" then
    return http.post(base .. "/zones/zone-a/installs", { headers = h,
      json = { package_id = "pkg_linear" } })
  end
  h["x-agent-id"] = "simAgent0001clients"
  return http.get(bx_jobs, { headers = h })
end
local function obtain(provider)
  local res = provider == "redpanda" and rp_token("sim-redpanda-client", "sim-redpanda-secret")
    or provider == "keycard" and kc_token("sim-keycard-client", "sim-keycard-secret")
    or bx_token("sim-bluexp-refresh")
  assert(res.status == 200, provider .. " token: " .. res.status .. " " .. res.body)
  return res:json()
end
-- Polls the API with token until it answers 401 (the token expired): at most 100 polls.
local function until_refused(provider, token)
  for _ = 1, 100 do
    local res = api(provider, token)
    if res.status == 401 then return res end
    taskrun.sleep("50ms")
  end
  error(provider .. ": the token never expired")
end
]]

local run = S.runner(LOCALS)

describe("taskrun-sim token endpoints", function()
  local sim
  setup(function() sim = H.start_sim() end)
  teardown(function() S.stop(sim) end)

  it("issues Redpanda tokens for the client-credentials form, a new one each time, and the API takes them", function()
    local out = run(sim, [[
      local a = rp_token("sim-redpanda-client", "sim-redpanda-secret")
      local b = rp_token("sim-redpanda-client", "sim-redpanda-secret")
      emit(seen(a))
      emit(a:json().access_token ~= b:json().access_token)
      emit(api("redpanda", a:json().access_token).status)
      emit(api("redpanda", b:json().access_token).status)
      emit(api("redpanda", "sim-redpanda-token").status)
      -- Auth0 takes the same fields as JSON.
      emit(http.post(rp_auth, { json = { grant_type = "client_credentials",
        client_id = "sim-redpanda-client", client_secret = "sim-redpanda-secret",
        audience = "cloudv2-production.redpanda.cloud" } }).status)
    ]])
    local res = out[1]
    assert.are.equal(200, res.status)
    assert.are.equal("Bearer", res.body.token_type)
    assert.are.equal(3600, res.body.expires_in)
    assert.matches("^[%w]+$", res.body.access_token)
    assert.is_true(#res.body.access_token >= 32)
    assert.are.equal("no-store", res.headers["cache-control"])
    assert.is_true(out[2])
    assert.are.same({ 200, 200, 200, 200 }, { out[3], out[4], out[5], out[6] })
  end)

  it("refuses wrong Redpanda requests with Auth0's error bodies", function()
    local out = run(sim, [[
      emit(seen(rp_token("sim-redpanda-client", "wrong")))
      emit(seen(rp_token("someone-else", "sim-redpanda-secret")))
      emit(seen(rp_token("sim-redpanda-client", "sim-redpanda-secret", "")))
      emit(seen(rp_token("sim-redpanda-client", "sim-redpanda-secret", "&audience=elsewhere")))
      emit(seen(http.post(rp_auth, { headers = form, body = "client_id=sim-redpanda-client" })))
      emit(seen(http.post(rp_auth, { headers = form, body = "grant_type=password" })))
      emit(seen(http.get(rp_auth)))
      emit(api("redpanda", "not-a-token-it-issued").status)
    ]])
    assert.are.equal(401, out[1].status)
    assert.are.equal("invalid_client", out[1].body.error)
    assert.matches("wrong client_secret", out[1].body.error_description)
    assert.are.same(out[1].body, out[2].body)
    assert.are.equal(403, out[3].status)
    assert.are.equal("access_denied", out[3].body.error)
    assert.matches("No audience", out[3].body.error_description)
    assert.are.equal(403, out[4].status)
    assert.are.equal("Service not found: elsewhere", out[4].body.error_description)
    assert.are.equal(400, out[5].status)
    assert.are.same({ error = "invalid_request",
      error_description = "Missing required parameter: grant_type" }, out[5].body)
    assert.are.equal(400, out[6].status)
    assert.are.equal("unsupported_grant_type", out[6].body.error)
    assert.are.equal(405, out[7].status)
    assert.are.equal("POST", out[7].headers.allow)
    assert.are.equal(401, out[8])
  end)

  it("issues Keycard tokens for HTTP Basic client credentials and refuses anything else", function()
    local out = run(sim, [[
      local ok = kc_token("sim-keycard-client", "sim-keycard-secret")
      emit(seen(ok))
      emit(api("keycard", ok:json().access_token).status)
      emit(seen(kc_token("sim-keycard-client", "wrong")))
      emit(seen(http.post(kc_auth, { headers = form, body = "grant_type=client_credentials"
        .. "&client_id=sim-keycard-client&client_secret=sim-keycard-secret" })))
      emit(seen(kc_token("sim-keycard-client", "sim-keycard-secret", "grant_type=refresh_token")))
      emit(seen(http.post(kc_auth, { headers = { Authorization = "Basic "
        .. b64("sim-keycard-client:sim-keycard-secret") },
        json = { grant_type = "client_credentials" } })))
    ]])
    assert.are.equal(200, out[1].status)
    assert.are.equal("Bearer", out[1].body.token_type)
    assert.are.equal(3600, out[1].body.expires_in)
    assert.are.equal(201, out[2])
    assert.are.equal(401, out[3].status)
    assert.are.equal("invalid_client", out[3].body.error)
    assert.matches("wrong client secret", out[3].body.error_description)
    assert.matches("^Basic", out[3].headers["www-authenticate"])
    assert.are.equal(401, out[4].status)
    assert.matches("HTTP Basic", out[4].body.error_description)
    assert.are.equal(400, out[5].status)
    assert.are.equal("unsupported_grant_type", out[5].body.error)
    assert.are.equal(400, out[6].status)
    assert.are.equal("invalid_request", out[6].body.error)
  end)

  it("issues BlueXP user tokens for the refresh-token grant, for a day by default", function()
    local out = run(sim, [[
      local ok = bx_token("sim-bluexp-refresh")
      emit(seen(ok))
      emit(api("bluexp", ok:json().access_token).status)
      emit(seen(bx_token("revoked-long-ago")))
      emit(seen(bx_token("sim-bluexp-refresh", "another-client")))
      emit(seen(http.post(bx_auth, { json = { grant_type = "refresh_token",
        client_id = "Mu0V1ywgYteI6w1MbD15fKfVIUrNXGWC" } })))
    ]])
    assert.are.equal(200, out[1].status)
    assert.are.equal("Bearer", out[1].body.token_type)
    assert.are.equal(86400, out[1].body.expires_in)
    assert.are.equal(200, out[2])
    assert.are.equal(403, out[3].status)
    assert.are.same({ error = "invalid_grant",
      error_description = "Unknown or invalid refresh token." }, out[3].body)
    assert.are.equal(401, out[4].status)
    assert.are.equal("invalid_client", out[4].body.error)
    assert.are.equal(400, out[5].status)
    assert.are.equal("invalid_request", out[5].body.error)
  end)

  it("revokes issued tokens per provider or all at once; static tokens keep working", function()
    local out = run(sim, [[
      local rp, kc = obtain("redpanda").access_token, obtain("keycard").access_token
      emit(admin("DELETE", "/_sim/tokens?provider=redpanda").revoked)
      emit(seen(api("redpanda", rp)))
      emit(api("keycard", kc).status)
      emit(admin("DELETE", "/_sim/tokens").revoked)
      emit(api("keycard", kc).status)
      emit(api("redpanda", "sim-redpanda-token").status)
      emit(http.delete(base .. "/_sim/tokens?provider=astro").status)
      emit(admin("GET", "/_sim/tokens").tokens)
    ]])
    assert.are.equal(1, out[1])
    assert.are.equal(401, out[2].status)
    assert.are.same({ code = "UNAUTHENTICATED", message = "invalid bearer token", details = {} },
      out[2].body)
    assert.are.equal(201, out[3])
    assert.are.equal(1, out[4])
    assert.are.equal(401, out[5])
    assert.are.equal(200, out[6])
    assert.are.equal(400, out[7])
    assert.are.same({ requests = 1, issued = 1, refused = 0, revoked = 1, live = 0 },
      out[8].redpanda)
    assert.are.same({ requests = 1, issued = 1, refused = 0, revoked = 1, live = 0 },
      out[8].keycard)
  end)

  it("counts token requests and logs them under <provider>-auth, which provider faults leave alone", function()
    local out = run(sim, [[
      admin("POST", "/_sim/faults", { kind = "server_error", provider = "redpanda", count = -1 })
      admin("POST", "/_sim/faults", { kind = "rate_limit", provider = "keycard-auth", count = 1 })
      for _ = 1, 3 do obtain("redpanda") end
      rp_token("sim-redpanda-client", "wrong")
      emit(seen(kc_token("sim-keycard-client", "sim-keycard-secret")))
      obtain("keycard")
      emit(admin("GET", "/_sim/tokens").tokens)
      local log = admin("GET", "/_sim/requests?provider=redpanda-auth").requests
      emit({ n = #log, path = log[1].path, status = log[4].status })
      emit(#admin("GET", "/_sim/requests?provider=keycard-auth").requests)
    ]])
    assert.are.equal(429, out[1].status)
    assert.are.equal("too_many_requests", out[1].body.error)
    assert.are.same({ requests = 4, issued = 3, refused = 1, revoked = 0, live = 3 },
      out[2].redpanda)
    -- The faulted request never reached the endpoint: it is in the log, not in the counts.
    assert.are.same({ requests = 1, issued = 1, refused = 0, revoked = 0, live = 1 },
      out[2].keycard)
    assert.are.same({ n = 4, path = "/redpanda/oauth/token", status = 401 }, out[3])
    assert.are.equal(2, out[4])
  end)

  it("takes credentials and token lifetimes from POST /_sim/config, shows no secret, and reset restores them", function()
    local out = run(sim, [[
      local cfg = admin("POST", "/_sim/config", { token_ttl = { bluexp = "90s" },
        credentials = { redpanda = { client_secret = "rotated-secret" },
                        bluexp = { refresh_token = "rotated-refresh" } } })
      emit(cfg)
      emit(rp_token("sim-redpanda-client", "sim-redpanda-secret").status)
      emit(rp_token("sim-redpanda-client", "rotated-secret").status)
      emit(bx_token("rotated-refresh"):json().expires_in)
      emit(http.post(base .. "/_sim/config", { json = { token_ttl = "soon" } }).status)
      emit(http.post(base .. "/_sim/config", { json = { credentials = { astra = {
        client_id = "x" } } } }).status)
      admin("POST", "/_sim/reset")
      emit(rp_token("sim-redpanda-client", "sim-redpanda-secret").status)
    ]])
    local cfg = cjson.encode(out[1])
    assert.are.same({ redpanda = 3600000, keycard = 3600000, bluexp = 90000 }, out[1].token_ttl_ms)
    assert.are.equal("sim-redpanda-client", out[1].credentials.redpanda.client_id)
    assert.is_nil(cfg:find("secret", 1, true))
    assert.is_nil(cfg:find("rotated", 1, true))
    assert.are.same({ 401, 200, 90, 400, 400, 200 }, { out[2], out[3], out[4], out[5], out[6],
      out[7] })
  end)
end)

describe("taskrun-sim token lifetimes and credentials from flags", function()
  local sim, logpath
  setup(function()
    logpath = os.tmpname()
    sim = H.start_sim({ "--token-ttl", "1s", "--request-log", logpath,
      "--redpanda-client-id", "flag-client", "--redpanda-client-secret", "flag-secret-1f2e",
      "--keycard-client-id", "kc-flag", "--keycard-client-secret", "kc-secret-9a8b",
      "--bluexp-refresh-token", "bx-refresh-7c6d" })
  end)
  teardown(function()
    S.stop(sim)
    os.remove(logpath)
  end)

  it("expires tokens after --token-ttl: the API then answers the vendor's 401, and a new token works", function()
    local out = run(sim, [[
      local function one(provider, id, secret)
        local res = provider == "redpanda" and rp_token(id, secret)
          or provider == "keycard" and kc_token(id, secret) or bx_token(secret)
        local t = res:json()
        local first = api(provider, t.access_token).status
        local refused = until_refused(provider, t.access_token)
        local again = res.status == 200 and provider == "redpanda"
          and api(provider, rp_token(id, secret):json().access_token).status
        emit({ expires_in = t.expires_in, first = first, refused = seen(refused), again = again })
      end
      one("redpanda", "flag-client", "flag-secret-1f2e")
      one("keycard", "kc-flag", "kc-secret-9a8b")
      one("bluexp", nil, "bx-refresh-7c6d")
      emit(admin("GET", "/_sim/tokens").tokens)
    ]])
    local rp, kc, bx = out[1], out[2], out[3]
    for _, o in ipairs({ rp, kc, bx }) do
      assert.are.equal(1, o.expires_in)
      assert.is_true(o.first == 200 or o.first == 201, tostring(o.first))
      assert.are.equal(401, o.refused.status)
    end
    assert.are.same({ code = "UNAUTHENTICATED", message = "token expired", details = {} },
      rp.refused.body)
    assert.are.equal("token expired", rp.refused.headers["www-authenticate"])
    assert.are.equal(200, rp.again)
    assert.are.equal("unauthorized", kc.refused.body.code)
    assert.are.equal("token expired", kc.refused.body.message)
    assert.are.same({ error = "Unauthorized", message = "token expired" }, bx.refused.body)
    assert.are.equal(0, out[4].redpanda.live)
  end)

  it("never writes a client secret, refresh token, Basic credentials or issued token to the log", function()
    local out = run(sim, [[
      local issued = {
        rp_token("flag-client", "flag-secret-1f2e"):json().access_token,
        kc_token("kc-flag", "kc-secret-9a8b"):json().access_token,
        bx_token("bx-refresh-7c6d"):json().access_token,
      }
      rp_token("flag-client", "flag-secret-1f2e-typo")
      -- A client that puts a secret in the query, or posts a token back as JSON.
      http.post(rp_auth .. "?client_secret=flag-secret-1f2e&x=1", { headers = form, body = "" })
      http.post(base .. "/_sim/echo", { json = { access_token = issued[1], nested = {
        refresh_token = "bx-refresh-7c6d" } } })
      for i, t in ipairs(issued) do api(({ "redpanda", "keycard", "bluexp" })[i], t) end
      local res = http.get(base .. "/_sim/requests")
      emit(issued)
      emit(res.body)
      local log = res:json().requests
      emit({ rp = log[1].body, kc = log[2].headers.authorization, bx = log[3].body,
        query = log[5].query })
    ]])
    local issued, memory, shown = out[1], out[2], out[3]
    local file = H.read_file(logpath)
    for _, text in ipairs({ memory, file }) do
      for _, secret in ipairs({ "flag-secret-1f2e", "kc-secret-9a8b", "bx-refresh-7c6d",
                                issued[1], issued[2], issued[3] }) do
        assert.is_nil(text:find(secret, 1, true), secret)
      end
    end
    assert.are.equal("grant_type=client_credentials&client_id=flag-client"
      .. "&client_secret=[redacted]&audience=cloudv2-production.redpanda.cloud", shown.rp)
    assert.are.equal("Basic [redacted]", shown.kc)
    assert.matches('"refresh_token":"%[redacted%]"', shown.bx)
    assert.matches('"client_id":"Mu0V1ywgYteI6w1MbD15fKfVIUrNXGWC"', shown.bx)
    assert.are.equal("client_secret=[redacted]&x=1", shown.query)
  end)
end)

describe("taskrun-sim credentials from a scenario file", function()
  it("loads credentials and per-provider lifetimes, and refuses bad ones with exit 2", function()
    local path = H.write_tmp(cjson.encode({
      credentials = { keycard = { client_id = "scn-client", client_secret = "scn-secret" } },
      token_ttl = { keycard = 5, redpanda = "2m" },
    }), ".json")
    local sim = H.start_sim({ "--scenario", path })
    local out = run(sim, [[
      emit(kc_token("scn-client", "scn-secret"):json().expires_in)
      emit(kc_token("sim-keycard-client", "sim-keycard-secret").status)
      emit(obtain("redpanda").expires_in)
      emit(obtain("bluexp").expires_in)
    ]])
    S.stop(sim)
    os.remove(path)
    assert.are.same({ 5, 401, 120, 86400 }, out)
    for _, bad in ipairs({ { token_ttl = "0s" }, { credentials = { redpanda = {
                             refresh_token = "x" } } }, { token_ttl = { astra = "1s" } } }) do
      local p = H.write_tmp(cjson.encode(bad), ".json")
      local ok, how, code = os.execute("./taskrun-sim --scenario " .. p .. " >/dev/null 2>&1")
      os.remove(p)
      assert.are.same({ nil, "exit", 2 }, { ok, how, code }, cjson.encode(bad))
    end
    local ok, how, code = os.execute("./taskrun-sim --token-ttl soon >/dev/null 2>&1")
    assert.are.same({ nil, "exit", 2 }, { ok, how, code })
  end)
end)
