-- Bearer tokens for the provider clients: where a client's token comes from, and getting,
-- caching and renewing it. Driven by each descriptor's `credentials` (bindings/provider.h).
--
-- Sources, in order of precedence:
--   explicit   the client's own options: token = "..." | function() return token, expires_in
--              end, or client_id = / client_secret = / refresh_token = / auth_url =
--   static     NAME_TOKEN: used as it is, never renewed
--   file       NAME_TOKEN_FILE: read on first use, and again when a token is refused
--   obtained   NAME_CLIENT_ID + NAME_CLIENT_SECRET (or _FILE), or NAME_REFRESH_TOKEN (or
--              _FILE): asked of the vendor's token endpoint, renewed before it expires
--
-- A source other than a static token is renewable: a 401 renews it once and the request is
-- made once more. Getting a token is single-flight: the first request that needs one spawns
-- the fetch as a task, and every request that needs one meanwhile joins that task, so 10,000
-- waits cause one token request. Every secret is registered for redaction as soon as it is
-- read or obtained.
local core = require("taskrun._core")
local http = require("taskrun.http")
local json = require("taskrun.json")

local auth = {}

-- Renewal ahead of expiry: when less than a quarter of the token's lifetime is left, and at
-- most RENEW_MAX before it expires. A 2 s token is renewed after 1.5 s (not on every
-- request), a 1 h token 5 minutes before it expires (not 1 s before).
auth.RENEW_SHARE = 0.25
auth.RENEW_MAX = 300

-- Seconds after which a token that lives `lifetime` seconds is renewed.
function auth.renew_after(lifetime)
  return lifetime - math.min(lifetime * auth.RENEW_SHARE, auth.RENEW_MAX)
end

-- Outside a wait, a token request that fails transiently (transport, 429, 5xx) is tried this
-- many times, these many seconds apart; inside a wait it is tried once per poll, and the wait
-- goes on polling until its deadline.
auth.TRIES = 3
auth.DELAYS = { 1, 3 }

-- A token request that takes longer than this (or than the client's own timeout) fails.
local TOKEN_TIMEOUT = 30

local function getenv(name)
  local v = name and os.getenv(name)
  if v == "" then return nil end
  return v
end

local function usage(message, name)
  return core.error("usage", message, { provider = name })
end

-- The text of a secret file: its content without the trailing newline editors and `echo`
-- add. Returns the text, or nil and why not.
local function read_file(path)
  local f, why = io.open(path, "rb")
  if not f then return nil, why end
  local text = f:read("a")
  f:close()
  if not text then return nil, path .. ": cannot be read" end
  text = text:gsub("[\r\n]+$", "")
  if text == "" then return nil, path .. ": the file is empty" end
  return core.secret(text)
end

-- A secret read from variable `env`, or from the file its _FILE form names. Returns the
-- value and where it came from ("REDPANDA_CLIENT_SECRET_FILE"), or nil; raises usage when
-- the file cannot be read.
local function secret_of(env, name)
  if not env then return nil end
  local v = getenv(env)
  if v then return core.secret(v), env end
  local path = getenv(env .. "_FILE")
  if not path then return nil end
  local text, why = read_file(path)
  if not text then
    error(usage(string.format("%s: %s_FILE names a file that cannot be read (%s); fix the "
      .. "path or the file's permissions", name, env, why), name), 0)
  end
  return text, env .. "_FILE"
end

-- ---- choosing a source -----------------------------------------------------------------------

-- "REDPANDA_CLIENT_SECRET (or REDPANDA_CLIENT_SECRET_FILE)"
local function with_file(env)
  return string.format("%s (or %s_FILE)", env, env)
end

-- Every variable (or option) that would give provider `name` a token, as one sentence.
local function what_would_do(name, cred)
  local ways = { with_file(cred.token_env) }
  if cred.grant == "refresh_token" then
    ways[#ways + 1] = with_file(cred.refresh_token_env)
  elseif cred.grant then
    ways[#ways + 1] = string.format("%s with %s", cred.client_id_env,
      with_file(cred.client_secret_env))
  end
  return string.format("set %s, or pass token = ... to %s.client{}",
    table.concat(ways, ", or "), name)
end

-- Where a client of provider `name` gets its token: a description { kind =, ... }, or nil and
-- the list of what is missing. `opts`: the client's options. Reads no file.
function auth.choose(name, cred, opts)
  opts = opts or {}
  local t = opts.token
  if t ~= nil and t ~= "" then
    if type(t) == "function" then
      return { kind = "function", fn = t, label = "token = function" }
    end
    if type(t) ~= "string" then
      return nil, { string.format("token must be a string or a function, got a %s", type(t)) }
    end
    return { kind = "static", token = t, label = "token =" }
  end
  local explicit = opts.client_id ~= nil or opts.client_secret ~= nil
    or opts.refresh_token ~= nil
  if not explicit then
    local static = getenv(cred.token_env)
    if static then return { kind = "static", token = static, label = cred.token_env } end
    local file = getenv(cred.token_env .. "_FILE")
    if file then return { kind = "file", path = file, label = cred.token_env .. "_FILE" } end
  end
  if cred.grant == "refresh_token" then
    local has = opts.refresh_token or getenv(cred.refresh_token_env)
      or getenv(cred.refresh_token_env .. "_FILE")
    if has then
      return { kind = "obtained", label = opts.refresh_token and "refresh_token ="
        or cred.refresh_token_env }
    end
    if explicit then return nil, { "refresh_token = ... is needed with client_id =" } end
  elseif cred.grant then
    local id = opts.client_id or getenv(cred.client_id_env)
    local secret = opts.client_secret or getenv(cred.client_secret_env)
      or getenv(cred.client_secret_env .. "_FILE")
    if id and secret then
      return { kind = "obtained", label = opts.client_secret and "client_secret ="
        or cred.client_id_env }
    end
    if id or secret then
      local missing = id and with_file(cred.client_secret_env) or cred.client_id_env
      return nil, { string.format("%s is not set, but %s is: set it too (or pass %s = ... to "
        .. "%s.client{})", missing, id and cred.client_id_env or cred.client_secret_env,
        id and "client_secret" or "client_id", name) }
    end
  end
  return nil, { string.format("no credentials: %s", what_would_do(name, cred)) }
end

-- ---- getting a token -------------------------------------------------------------------------

local Source = {}
Source.__index = Source

-- A token source for client `c` (provider.new_client made it, with c.spec, c.name, c.url,
-- c.options, c.timeout). Raises usage when the settings give no token.
function auth.source(c)
  local cred = c.spec.credentials
  local how, problems = auth.choose(c.name, cred, c.options)
  if not how then error(usage(c.name .. ": " .. problems[1], c.name), 0) end
  local s = setmetatable(how, Source)
  s.name, s.cred, s.client = c.name, cred, c
  s.renewable = how.kind ~= "static"
  if s.token then core.secret(s.token) end
  return s
end

-- What to check when the vendor refuses a token, for the auth error's advice.
function Source:hint()
  local cred = self.cred
  if self.kind == "obtained" then
    if cred.grant == "refresh_token" then
      return string.format("check %s and the user's permissions", cred.refresh_token_env)
    end
    return string.format("check %s, %s and the service account's permissions",
      cred.client_id_env, cred.client_secret_env)
  elseif self.kind == "file" then
    return string.format("check the token in %s and its permissions", self.label)
  elseif self.kind == "function" then
    return "check the client's token function and the token's permissions"
  end
  -- A static token: the variable's, or the client's token = ..., which stands for it.
  return string.format("check %s and the token's permissions", cred.token_env)
end

local function b64(s)
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for k = 1, 4 do
      local v = (n >> (6 * (4 - k))) & 63
      q[k] = chars:sub(v + 1, v + 1)
    end
    if not b then q[3] = "=" end
    if not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end
auth.base64 = b64

local function form(pairs_list)
  local parts = {}
  for _, kv in ipairs(pairs_list) do
    if kv[2] ~= nil then
      parts[#parts + 1] = kv[1] .. "=" .. tostring(kv[2]):gsub("[^%w%-%._~]", function(ch)
        return string.format("%%%02X", ch:byte())
      end)
    end
  end
  return table.concat(parts, "&")
end

-- The token request of the obtained flow: method, url, headers, body.
local function token_request(s)
  local cred, opts, c = s.cred, s.client.options, s.client
  local url = opts.auth_url or (cred.auth_url_env and getenv(cred.auth_url_env))
    or cred.default_auth_url or (c.url .. (cred.auth_path or ""))
  local headers = { Accept = "application/json" }
  local body
  if cred.grant == "refresh_token" then
    local refresh = opts.refresh_token and core.secret(opts.refresh_token)
      or secret_of(cred.refresh_token_env, s.name)
    local id = opts.client_id or getenv(cred.client_id_env) or cred.default_client_id
    headers["Content-Type"] = "application/json"
    body = json.encode({ grant_type = "refresh_token", refresh_token = refresh, client_id = id })
  else
    local id = opts.client_id or getenv(cred.client_id_env)
    local secret = opts.client_secret and core.secret(opts.client_secret)
      or secret_of(cred.client_secret_env, s.name)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    if cred.grant == "client_credentials_basic" then
      headers.Authorization = "Basic " .. core.secret(b64(id .. ":" .. secret))
      body = form({ { "grant_type", "client_credentials" } })
    else
      body = form({ { "grant_type", "client_credentials" }, { "client_id", id },
                    { "client_secret", secret }, { "audience", cred.audience } })
    end
  end
  return url, headers, body
end

local function clip(s, max)
  s = tostring(s)
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return (s:gsub("%c", " "))
end

-- OAuth2 errors that mean the credentials themselves were refused (RFC 6749 5.2), whatever
-- the status they came with.
local REFUSED = { invalid_client = true, invalid_grant = true, unauthorized_client = true }

-- Raises the error a token endpoint's non-2xx answer means: kind auth for refused
-- credentials, else kind http (transient for 429 and 5xx).
local function refused(s, res, url)
  local ok, body = pcall(json.decode, res.body:sub(1, 65536))
  body = ok and type(body) == "table" and body or {}
  local code = type(body.error) == "string" and body.error or nil
  local desc = type(body.error_description) == "string" and body.error_description or nil
  local words = code and (code .. (desc and (": " .. desc) or "")) or "no OAuth error in the body"
  local fields = { provider = s.name, status = res.status, url = url, error = code,
                   error_description = desc, retry_after = res.retry_after }
  local auth_kind = res.status == 401 or res.status == 403 or REFUSED[code]
  local advice = auth_kind and s:hint()
    or (res.status >= 500 or res.status == 429) and "the service failed; it may pass, retry later"
    or "check the token endpoint's URL and the credentials' settings"
  local message = string.format("%s: the token endpoint POST %s answered %d: %s; %s", s.name,
    clip(url, 200), res.status, clip(words, 500), advice)
  error(core.error(auth_kind and "auth" or "http", message, fields), 0)
end

-- One attempt at a token from the source's origin. Returns token, expires_in (or nil).
local function fetch(s)
  if s.kind == "file" then
    local text, why = read_file(s.path)
    if not text then
      error(usage(string.format("%s: %s names a file that cannot be read (%s); fix the path "
        .. "or the file's permissions", s.name, s.label, why), s.name), 0)
    end
    return text
  elseif s.kind == "function" then
    local ok, token, expires_in = pcall(s.fn)
    if not ok then
      if type(token) == "table" then error(token, 0) end
      error(core.error("auth", string.format("%s: the client's token function failed: %s",
        s.name, clip(token, 300)), { provider = s.name }), 0)
    end
    if type(token) ~= "string" or token == "" then
      error(usage(string.format("%s: the client's token function returned %s where a token "
        .. "(a non-empty string) was expected", s.name, type(token)), s.name), 0)
    end
    return core.secret(token), tonumber(expires_in)
  elseif s.kind == "static" then
    return s.token
  end
  local url, headers, body = token_request(s)
  local res = require("taskrun.provider").request(s.name, { method = "POST", url = url,
    headers = headers, body = body, timeout = s.client.timeout or TOKEN_TIMEOUT,
    max_inflight = s.client.max_inflight, rate = s.client.rate })
  if res.status < 200 or res.status > 299 then refused(s, res, url) end
  local ok, answer = pcall(json.decode, res.body)
  local token = ok and type(answer) == "table" and answer.access_token
  if type(token) ~= "string" or token == "" then
    error(core.error("decode", string.format("%s: the token endpoint POST %s answered %d "
      .. "without an access_token", s.name, clip(url, 200), res.status),
      { provider = s.name, status = res.status, url = url }), 0)
  end
  core.secret(token)
  return token, tonumber(answer.expires_in)
end

-- The fetch as the single-flight task runs it: stores the new token in the source, logs it,
-- and never raises (a task nobody joins must not fail the run): returns ok, err.
local function flight(s, deadline)
  local scope <close> = deadline and http.deadline_scope(deadline) or nil
  local ok, token, expires_in = pcall(fetch, s)
  if not ok then return false, token end
  local now = core.now()
  local renewed = s.token ~= nil
  s.token, s.obtained_at = token, now
  if expires_in and expires_in > 0 then
    s.expires_at, s.renew_at = now + expires_in, now + auth.renew_after(expires_in)
  else
    s.expires_at, s.renew_at = nil, nil
  end
  if s.kind ~= "static" then
    core.log.debug(string.format("%s: token %s from %s%s", s.name,
      renewed and "renewed" or "obtained", s.label, expires_in and string.format(
        ": expires in %gs, renewed after %gs", expires_in, s.renew_at - now) or ""),
      { provider = s.name, source = s.kind, expires_in = expires_in })
  end
  return true
end

local function transient(err)
  if type(err) ~= "table" then return false end
  if err.kind == "transport" or err.kind == "decode" then return true end
  return err.kind == "http" and (err.status == 429 or (err.status or 0) >= 500)
end

-- One single-flight fetch: starts it unless one is under way, and waits for it.
function Source:join_flight()
  if not self.flight then
    local deadline = http.current_deadline()
    self.flight = core.spawn(flight, self, deadline)
  end
  local h = self.flight
  local ok, err = h:join()
  if self.flight == h then self.flight = nil end
  return ok, err
end

-- A token to send now: the cached one while it is fresh, else a new one (waiting for it).
-- Raises the fetch's error: kind auth when the credentials were refused.
function Source:get()
  local now = core.now()
  if self.token and (not self.renew_at or now < self.renew_at) then return self.token end
  local inside_wait = http.current_deadline() ~= nil
  local tries = inside_wait and 1 or auth.TRIES
  for try = 1, tries do
    local ok, err = self:join_flight()
    if ok then return self.token end
    -- Renewal failed, but the token it was to replace is still good: use it meanwhile.
    if self.token and self.expires_at and core.now() < self.expires_at then
      core.log.warn(string.format("%s: renewing the token failed; the current one is good "
        .. "for %gs more", self.name, math.floor(self.expires_at - core.now())),
        { provider = self.name, error = type(err) == "table" and err.message or tostring(err) })
      return self.token
    end
    if try == tries or not transient(err) then error(err, 0) end
    local delay = auth.DELAYS[try] or auth.DELAYS[#auth.DELAYS]
    if type(err) == "table" and err.retry_after then
      delay = math.max(delay, math.min(err.retry_after, 30))
    end
    core.log.debug(string.format("%s: token request failed, trying again in %gs", self.name,
      delay), { provider = self.name })
    core.sleep(delay)
  end
end

-- The vendor refused `token` (a 401): forget it, so that the next get() renews it. Returns
-- true when a renewed token may be accepted (the source is renewable).
function Source:refused(token)
  if not self.renewable then return false end
  if self.token == token then self.token, self.expires_at, self.renew_at = nil, nil, nil end
  core.log.debug(string.format("%s: the token was refused (401); renewing it", self.name),
    { provider = self.name, source = self.kind })
  return true
end

return auth
