-- The man pages as `man` shows them: rendered without a warning, and saying what --help says.
local H = require("harness")

-- `man -l PAGE` as plain text, and what groff warned about on the way.
local function render(page)
  local errpath = os.tmpname()
  local p = assert(io.popen("MANWIDTH=100 man --warnings -l " .. H.quote(page) .. " 2>"
    .. H.quote(errpath)))
  local text = p:read("a")
  local ok = p:close()
  local warnings = H.read_file(errpath)
  os.remove(errpath)
  assert.is_true(ok, "man -l " .. page .. " failed: " .. warnings)
  return text, warnings
end

-- The text of section `name` of a rendered page (up to the next heading).
local function section(text, name)
  return text:match("\n" .. name .. "\n(.-)\n%u[%u ]+\n") or text:match("\n" .. name .. "\n(.*)")
end

describe("man taskrun", function()
  local text, warnings = render("build/man/taskrun.1")

  it("renders without a warning", function()
    assert.are.equal("", warnings)
    assert.matches("^TASKRUN%(1%)", text)
    for _, s in ipairs({ "NAME", "SYNOPSIS", "OPTIONS", "EXIT STATUS", "ENVIRONMENT", "FILES",
                         "EXAMPLES" }) do
      assert.is_truthy(section(text, s), "no section " .. s)
    end
  end)

  it("has every option --help lists, in OPTIONS", function()
    local help = H.run({ flags = { "--help" } }).stdout
    local options = section(text, "OPTIONS")
    local n = 0
    for opt in help:gmatch("\n  (%-%-?[%w-]+)") do
      n = n + 1
      assert.matches("\n       " .. opt:gsub("%-", "%%-") .. "[ \n]", "\n" .. options, nil,
        opt .. " is in --help but not in the man page's OPTIONS")
    end
    assert.is_true(n > 10, "no options found in --help")
  end)

  it("has every command and exit code --help lists", function()
    local help = H.run({ flags = { "--help" } }).stdout
    local commands = section(text, "COMMANDS")
    local n = 0
    for line in help:match("\ncommands:\n(.-)\n\n"):gmatch("[^\n]+") do
      local cmd = line:match("^  (%l[%l ]-) [%u%-%[]")   -- "runs show" of "  runs show RUN"
      if cmd then
        n = n + 1
        assert.is_truthy(("\n" .. commands):find("\n       " .. cmd .. " ", 1, true),
          cmd .. " is not in COMMANDS")
      end
    end
    assert.is_true(n >= 4, "no commands found in --help")
    local exits = section(text, "EXIT STATUS")
    for code in help:match("\nexit codes: (.-)\n%l"):gmatch("(%d+) ") do
      assert.matches("\n       " .. code .. " ", "\n" .. exits, nil, "exit " .. code)
    end
  end)

  it("names the version it documents", function()
    local version = H.run({ flags = { "--version" } }).stdout:match("^taskrun (%S+)")
    assert.matches("taskrun " .. version:gsub("%.", "%%."), text)
  end)
end)
