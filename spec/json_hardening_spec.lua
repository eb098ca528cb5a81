-- taskrun.json on the edges a vendor or a fuzzer reaches: exact integers, numbers Lua cannot
-- hold, -0, duplicate keys, deep nesting, invalid UTF-8; and encoder messages that say what to do.
local H = require("harness")

local function lua(code)
  local r = H.run({ script = "local json = require('taskrun.json')\n" .. code })
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout
end

describe("json.decode", function()
  it("decodes integers exactly, to the ends of 64 bits, never rounding an id above 2^53", function()
    assert.are.equal("9007199254740993\tinteger\t-9223372036854775808\t9223372036854775807\n"
      .. "x/9007199254740993\n", lua([[
      local v = json.decode('{"id":9007199254740993,'
        .. '"lo":[-9223372036854775808,9223372036854775807]}')
      print(v.id, math.type(v.id), v.lo[1], v.lo[2])
      print("x/" .. json.decode("[9007199254740993]")[1])
    ]]))
  end)

  it("raises kind decode for an integer past 64 bits and a number a double cannot hold", function()
    assert.are.equal(("decode\ttrue\n"):rep(4), lua([[
      local texts = { "9223372036854775808", "[-9223372036854775809]", "1e400", '{"a":-1e400}' }
      for _, s in ipairs(texts) do
        local ok, err = pcall(json.decode, s)
        print(err.kind, err.message:find("the number", 1, true) ~= nil)
      end
    ]]))
  end)

  it("decodes -0 and -0.0 as the integer 0, and keeps the last of duplicate keys", function()
    assert.are.equal("0\tinteger\t0\tinteger\t2\n", lua([[
      local a, b = json.decode("-0"), json.decode("-0.0")
      print(a, math.type(a), b, math.type(b), json.decode('{"k":1,"k":2}').k)
    ]]))
  end)

  it("refuses 100,000 levels of nesting cleanly, and decodes 1,000", function()
    assert.are.equal("decode\ttrue\ttable\n", lua([[
      local ok, err = pcall(json.decode, ("["):rep(100000) .. ("]"):rep(100000))
      local deep = json.decode(("["):rep(1000) .. ("]"):rep(1000))
      print(err.kind, err.message:find("nested deeper than 1000", 1, true) ~= nil, type(deep))
    ]]))
  end)

  it("takes invalid UTF-8 in strings byte for byte, and refuses a lone surrogate escape", function()
    assert.are.equal("true\tdecode\té😀\n", lua([[
      local ok, err = pcall(json.decode, '"\\ud83d"')
      print(json.decode('"\255\254"') == "\255\254", err.kind,
        json.decode('"\\u00e9\\ud83d\\ude00"'))
    ]]))
  end)

  it("decodes scalars and null at the top, and says where malformed text breaks", function()
    assert.are.equal("true\thi\t42\tfalse\ndecode\t4\ttrue\n", lua([[
      print(json.decode("null") == json.null, json.decode('"hi"'), json.decode(" 42 "),
        json.decode("false"))
      local ok, err = pcall(json.decode, '[1,]')
      print(err.kind, err.position, err.message:find("found ']' at character 4", 1, true) ~= nil)
    ]]))
  end)
end)

describe("json.encode", function()
  it("keeps keys that hold NUL apart", function()
    assert.are.equal('{"a":1,"a\\u0000b":2}\n',
      lua([[print(json.encode({ a = 1, ["a\0b"] = 2 }))]]))
  end)

  it("says a sparse array is sparse, and mixed keys are mixed, and what to do", function()
    assert.are.equal("usage\ttrue\ttrue\nusage\ttrue\ttrue\n", lua([[
      local ok, err = pcall(json.encode, { [1] = 1, [3] = 3 })
      print(err.kind, err.message:find("sparse array", 1, true) ~= nil,
        err.message:find("json.null", 1, true) ~= nil)
      ok, err = pcall(json.encode, { 1, x = 2 })
      print(err.kind, err.message:find("mixes string keys with integer keys", 1, true) ~= nil,
        err.message:find("tostring", 1, true) ~= nil)
    ]]))
  end)
end)
