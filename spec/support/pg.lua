-- A throwaway PostgreSQL cluster for one spec file: initdb in a temp directory, a server on a
-- free loopback port (its socket in the same directory), one database, and at the end the server
-- stopped and the directory removed. The server runs as an unprivileged user: initdb and the
-- server refuse root, so under root (CI) they run as the `postgres` user the Debian package
-- creates, which owns the directory. A server that cannot start fails the spec file: nothing is
-- skipped.
--
-- The cluster is for tests only: fsync and full-page writes off (a crash of this machine loses
-- nothing anybody keeps).
local H = require("harness")

local PG = {}

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok, out, code
end

local function must(cmd, what)
  local ok, out = sh(cmd)
  if not ok then error(what .. " failed: " .. cmd .. "\n" .. out, 2) end
  return out
end

-- The newest server's bindir: Debian installs each major version under /usr/lib/postgresql/N.
local function bindir()
  local ok, out = sh("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1")
  local dir = ok and out:match("^(%S+)")
  if not dir or not io.open(dir .. "/initdb") then
    error("no PostgreSQL server found under /usr/lib/postgresql (run make deps)", 3)
  end
  return dir
end

local function free_port()
  return tonumber(must("python3 -c 'import socket; s = socket.socket(); "
    .. "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'", "finding a free port"))
end

local function hex(n)
  local t = {}
  for i = 1, n do t[i] = string.format("%02x", math.random(0, 255)) end
  return table.concat(t)
end

-- Starts a cluster. Returns pg with:
--   url       postgresql://USER:PASSWORD@127.0.0.1:PORT/taskrun (password authentication)
--   password  the password in it
--   dir       the temp directory (data in dir/data, the server's socket in dir)
--   pg:psql(sql) -> the rows as text (psql -At), an error when psql fails
--   pg:stop_server(), pg:start_server(): stop (fast) and start it again, same port and data
--   pg:stop()  stops it for good and removes the directory
function PG.start()
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  local bin = bindir()
  local dir = H.tmpdir()
  local root = sh("test \"$(id -u)\" = 0")
  local as = root and "runuser -u postgres -- " or ""
  if root then must("chown postgres: " .. H.quote(dir), "chown of the cluster's directory") end
  local pg = { dir = dir, user = "taskrun", password = "pw-" .. hex(12), bin = bin }
  local pwfile = dir .. "/pwfile"
  local f = assert(io.open(pwfile, "wb"))
  f:write(pg.password, "\n")
  f:close()
  if root then must("chown postgres: " .. H.quote(pwfile), "chown of the password file") end
  must(as .. H.quote(bin .. "/initdb") .. " -D " .. H.quote(dir .. "/data") .. " -U taskrun"
    .. " --pwfile=" .. H.quote(pwfile) .. " --auth-local=trust --auth-host=scram-sha-256"
    .. " -E UTF8 --locale=C --no-sync --no-instructions", "initdb")
  os.remove(pwfile)
  pg.as = as

  -- The server outlives nothing: if this busted dies without its teardown, a watchdog stops it.
  local function server_start()
    local opts = string.format("-c port=%d -c listen_addresses=127.0.0.1 "
      .. "-c unix_socket_directories=%s -c fsync=off -c full_page_writes=off "
      .. "-c synchronous_commit=off -c shared_buffers=32MB -c max_connections=200 "
      .. "-c log_min_messages=warning", pg.port, dir)
    return sh(as .. H.quote(bin .. "/pg_ctl") .. " -D " .. H.quote(dir .. "/data") .. " -l "
      .. H.quote(dir .. "/log") .. " -w -t 60 -o " .. H.quote(opts) .. " start")
  end
  local started, out
  for _ = 1, 5 do
    pg.port = free_port()
    started, out = server_start()
    if started then break end
  end
  if not started then
    local log = io.open(dir .. "/log")
    error("the PostgreSQL server did not start:\n" .. out .. (log and log:read("a") or ""), 2)
  end
  pg.url = string.format("postgresql://taskrun:%s@127.0.0.1:%d/taskrun", pg.password, pg.port)
  local psql_base = H.quote(bin .. "/psql") .. " -X -q -v ON_ERROR_STOP=1 -At -h "
    .. H.quote(dir) .. " -p " .. pg.port .. " -U taskrun "
  must(H.quote(bin .. "/createdb") .. " -h " .. H.quote(dir) .. " -p " .. pg.port
    .. " -U taskrun taskrun", "createdb")
  -- The watchdog: this busted's pid is the shell's parent.
  local busted_pid = must("echo $PPID", "reading the pid"):match("%d+")
  os.execute("(while kill -0 " .. busted_pid .. " 2>/dev/null; do sleep 1; done; "
    .. as .. H.quote(bin .. "/pg_ctl") .. " -D " .. H.quote(dir .. "/data")
    .. " -m immediate stop; rm -rf " .. H.quote(dir) .. ") >/dev/null 2>&1 </dev/null &")

  function pg:psql(sql)
    return (must(psql_base .. "-d taskrun -c " .. H.quote(sql), "psql"):gsub("\n$", ""))
  end
  function pg:stop_server()
    must(as .. H.quote(bin .. "/pg_ctl") .. " -D " .. H.quote(dir .. "/data")
      .. " -w -m fast stop", "pg_ctl stop")
  end
  function pg:start_server()
    local ok, o = server_start()
    if not ok then error("pg_ctl start failed: " .. o, 2) end
  end
  function pg:stop()
    sh(as .. H.quote(bin .. "/pg_ctl") .. " -D " .. H.quote(dir .. "/data")
      .. " -w -m immediate stop")
    sh("rm -rf " .. H.quote(dir))
  end
  return pg
end

return PG
