/* libFuzzer target: taskrun.json's decode on arbitrary bytes. Whatever it accepts must be plain
 * JSON data: json.encode writes it back, and decoding that text again gives the same text
 * (a stable round trip). A bare integer literal decodes exactly or raises kind "decode": an id
 * is never rounded. Everything raised is a taskrun error of kind "decode". */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"
#include "fuzz_common.h"

static lua_State *L;

/* The checks run in Lua: a failure raises a string starting with "FUZZ:", which aborts. */
static const char check_src[] =
  "local json, s = ...\n"
  "local function kind_of(e) return type(e) == 'table' and e.kind or tostring(e) end\n"
  "local ok, v = pcall(json.decode, s)\n"
  "if not ok then\n"
  "  if kind_of(v) ~= 'decode' then error('FUZZ: decode raised ' .. tostring(kind_of(v))) end\n"
  "  return\n"
  "end\n"
  "local lit = s:match('^%s*(-?%d+)%s*$')\n"
  "if lit then\n"
  "  local want = lit:gsub('^(-?)0+(%d)', '%1%2')\n"
  "  if want == '-0' then want = '0' end\n"
  "  if math.type(v) ~= 'integer' or string.format('%d', v) ~= want then\n"
  "    error('FUZZ: integer ' .. lit .. ' decoded as ' .. tostring(v))\n"
  "  end\n"
  "end\n"
  "local ok1, t1 = pcall(json.encode, v)\n"
  "if not ok1 then error('FUZZ: decoded but cannot encode: ' .. tostring(kind_of(t1)) .. ' '\n"
  "  .. tostring(type(t1) == 'table' and t1.message or t1)) end\n"
  "local ok2, v2 = pcall(json.decode, t1)\n"
  "if not ok2 then error('FUZZ: own output does not decode: ' .. t1:sub(1, 200)) end\n"
  "local t2 = json.encode(v2)\n"
  "if t1 ~= t2 then error('FUZZ: round trip not stable: ' .. t1:sub(1, 200) .. ' vs '\n"
  "  .. t2:sub(1, 200)) end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  L = luaL_newstate();
  luaL_openlibs(L);
  tr_errors_init(L);
  luaL_requiref(L, "taskrun.json", luaopen_taskrun_json, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.json");
  if (luaL_loadbuffer(L, check_src, sizeof check_src - 1, "=json_check") != LUA_OK)
    tr_fuzz_die(lua_tostring(L, -1));
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.check");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.check");
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.json");
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) tr_fuzz_die(lua_tostring(L, -1));
  /* Garbage collected now: a leak check sees balanced allocations and skips its costly scan. */
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
