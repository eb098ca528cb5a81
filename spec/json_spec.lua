-- taskrun.json: integers kept integers, and an encoder that can write [].
local H = require("harness")

local function lua(code)
  local r = H.run({ script = "local json = require('taskrun.json')\n" .. code })
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout
end

describe("taskrun.json", function()
  it("decodes integral numbers as integers, everywhere in the tree", function()
    assert.are.equal("integer\tinteger\tinteger\tfloat\t1717000000000\n", lua([[
      local v = json.decode('{"a":42,"b":[1,{"c":-3}],"d":2.5,"t":1717000000000}')
      print(math.type(v.a), math.type(v.b[1]), math.type(v.b[2].c), math.type(v.d), v.t)
    ]]))
  end)

  it("decodes null as json.null", function()
    assert.are.equal("true\n", lua([[print(json.decode('{"a":null}').a == json.null)]]))
  end)

  it("encodes objects with sorted keys, arrays, empty arrays, null and exact integers", function()
    assert.are.equal('{"a":[],"b":{},"c":[1,2],"d":null,"e":9007199254740993,"f":0.5,"g":"\\"\\n"}\n',
      lua([[print(json.encode({ g = '"\n', f = 0.5, e = 9007199254740993, d = json.null,
        c = { 1, 2 }, b = {}, a = json.array() }))]]))
  end)

  it("round-trips unicode text", function()
    assert.are.equal("héllo ✓\n", lua([[print(json.decode(json.encode("héllo ✓")))]]))
  end)

  it("raises kind decode with the position for invalid JSON", function()
    assert.are.equal("decode\t5\ttrue\n", lua([[
      local ok, err = pcall(json.decode, '[1, }')
      print(err.kind, err.position, err.message:find("invalid JSON") ~= nil)
    ]]))
    assert.are.equal("decode\n", lua([[print(select(2, pcall(json.decode, "")).kind)]]))
  end)

  it("raises kind usage for values JSON cannot hold", function()
    assert.are.equal("usage usage usage usage\n", lua([[
      local kinds = {}
      for _, v in ipairs({ 0/0, print, { [1] = 1, x = 2 }, { [3] = 1 } }) do
        kinds[#kinds + 1] = select(2, pcall(json.encode, v)).kind
      end
      print(table.concat(kinds, " "))
    ]]))
  end)

  it("writes a table with __pairs as pairs reads it, nested too", function()
    assert.are.equal('{"inner":{"a":1,"b":[2]},"own":true}\n', lua([[
      local view = setmetatable({ hidden = "never written" }, { __pairs = function()
        return next, { a = 1, b = { 2 } }, nil
      end })
      print(json.encode({ own = true, inner = view }))
    ]]))
  end)

  it("refuses a cycle instead of overflowing the stack", function()
    assert.are.equal("usage\n", lua([[
      local t = {} t.self = t
      print(select(2, pcall(json.encode, t)).kind)
    ]]))
  end)
end)
