-- keycard_install.lua: install a catalog package into a zone and wait for its catalog task.
-- A completed task answers 303 to the install: taskrun reads that as success, with install_id.
-- Usage: taskrun keycard_install.lua [ZONE_ID [PACKAGE_ID]]   (default: zone-demo pkg_linear)
--   needs KEYCARD_TOKEN (and KEYCARD_API_URL for another API than api.keycard.ai)
-- Try it without an account: ./taskrun --sim scripts/keycard_install.lua
local keycard = taskrun.keycard

local zone, package = arg[1] or "zone-demo", arg[2] or "pkg_linear"
local task = keycard.install(zone, { package_id = package })

-- A failed install raises with Keycard's error_message (exit 3).
task = task:wait({ interval = "1s", max_interval = "30s", timeout = "30m" })
print(string.format("installed %s in %s as %s (%s)", package, zone, task.install_id,
  task.install_url))
