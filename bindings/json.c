/* taskrun.json: decoding by Debian's lua-cjson, with integral numbers made Lua integers (cjson
 * 2.1.0 reads 42 as 42.0, so "x/" .. id would give "x/42.0"); encoding here, because cjson 2.1.0
 * formats every number through a double with 14 digits and cannot write an empty array. */
#include <lauxlib.h>
#include <lua-cjson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"

#define ARRAY_MT "taskrun.json.array"
#define OUT_MT "taskrun.json.out"
#define MAX_DEPTH 1000

/* ---- decode ---- */

static void integralize(lua_State *L, int idx, int depth) {
  if (depth > MAX_DEPTH) return;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
      double v = lua_tonumber(L, -1);
      if (v == floor(v) && v >= -9.2233720368547758e18 && v < 9.2233720368547758e18) {
        lua_pushvalue(L, -2);
        lua_pushinteger(L, (lua_Integer)v);
        lua_rawset(L, idx);   /* assigning an existing field is allowed during lua_next */
      }
    } else if (lua_type(L, -1) == LUA_TTABLE) {
      integralize(L, -1, depth + 1);
    }
    lua_pop(L, 1);
  }
}

/* json.decode(s): [-1, +1, e] the value; raises kind "decode" with the position. */
static int l_decode(lua_State *L) {
  size_t len;
  luaL_checklstring(L, 1, &len);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    const char *why = lua_tostring(L, -1);
    const char *at = why ? strstr(why, "at character ") : NULL;
    tr_push_error(L, "decode", "invalid JSON (%s): %s", len == 0 ? "empty body" : "malformed",
                  why ? why : "?");
    if (at) {
      lua_pushinteger(L, atoi(at + 13));
      lua_setfield(L, -2, "position");
    }
    return lua_error(L);
  }
  if (lua_type(L, -1) == LUA_TNUMBER) {
    double v = lua_tonumber(L, -1);
    if (v == floor(v) && fabs(v) < 9.2e18) lua_pushinteger(L, (lua_Integer)v);
  } else if (lua_type(L, -1) == LUA_TTABLE) {
    integralize(L, -1, 0);
  }
  return 1;
}

/* ---- encode ---- */

/* The text being written. It lives in a userdata with __gc, so an error raised half way
 * (a NaN, a function value) frees it too. luaL_Buffer is no use here: it wants its box on
 * the top of the stack, and the encoder pushes values as it walks. */
typedef struct {
  char *p;
  size_t n, cap;
  lua_State *L;
} out_buf;

static int out_gc(lua_State *L) {
  out_buf *b = lua_touserdata(L, 1);
  free(b->p);
  b->p = NULL;
  return 0;
}

static void add_len(out_buf *b, const char *s, size_t len) {
  if (b->n + len > b->cap) {
    size_t cap = (b->n + len) * 2 + 64;
    char *p = realloc(b->p, cap);
    if (!p) luaL_error(b->L, "out of memory");
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
}

static void add_str(out_buf *b, const char *s) { add_len(b, s, strlen(s)); }
static void add_char(out_buf *b, char c) { add_len(b, &c, 1); }

static void encode_value(lua_State *L, out_buf *b, int idx, int depth);

static void encode_string(out_buf *b, const char *s, size_t len) {
  add_char(b, '"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': add_str(b, "\\\""); break;
      case '\\': add_str(b, "\\\\"); break;
      case '\n': add_str(b, "\\n"); break;
      case '\r': add_str(b, "\\r"); break;
      case '\t': add_str(b, "\\t"); break;
      case '\b': add_str(b, "\\b"); break;
      case '\f': add_str(b, "\\f"); break;
      default:
        if (c < 0x20) {
          char esc[8];
          snprintf(esc, sizeof esc, "\\u%04x", c);
          add_str(b, esc);
        } else {
          add_char(b, (char)c);
        }
    }
  }
  add_char(b, '"');
}

static void encode_number(lua_State *L, out_buf *b, int idx) {
  char num[64];
  if (lua_isinteger(L, idx)) {
    snprintf(num, sizeof num, LUA_INTEGER_FMT, lua_tointeger(L, idx));
  } else {
    double v = lua_tonumber(L, idx);
    if (!isfinite(v)) tr_raise(L, "usage", "json.encode: cannot encode %f (not a JSON number)", v);
    snprintf(num, sizeof num, "%.17g", v);
  }
  add_str(b, num);
}

/* Counts keys; returns n when the keys are exactly 1..n, else -1. */
static lua_Integer array_length(lua_State *L, int idx) {
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) { lua_pop(L, 1); return -1; }
    if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    count++;
  }
  return count == max ? count : -1;
}

static int is_marked_array(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, ARRAY_MT);
  int marked = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return marked;
}

static void encode_array(lua_State *L, out_buf *b, int idx, lua_Integer n, int depth) {
  add_char(b, '[');
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) add_char(b, ',');
    lua_rawgeti(L, idx, i);
    encode_value(L, b, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  add_char(b, ']');
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Objects are written with sorted keys: the same table always gives the same text. The key
 * list is a userdata, so a nested error (a NaN, a cycle) cannot leak it. */
static void encode_object(lua_State *L, out_buf *b, int idx, int depth) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      tr_raise(L, "usage", "json.encode: a table mixes string keys with other keys; "
               "JSON objects take string keys only");
    }
    n++;
  }
  const char **keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof *keys, 0);
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    keys[i++] = lua_tostring(L, -1);   /* the table keeps the key string alive */
  }
  qsort(keys, n, sizeof *keys, compare_strings);
  add_char(b, '{');
  for (i = 0; i < n; i++) {
    if (i > 0) add_char(b, ',');
    encode_string(b, keys[i], strlen(keys[i]));
    add_char(b, ':');
    lua_getfield(L, idx, keys[i]);
    encode_value(L, b, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  add_char(b, '}');
  lua_pop(L, 1);
}

static void encode_table(lua_State *L, out_buf *b, int idx, int depth) {
  if (depth > MAX_DEPTH) tr_raise(L, "usage", "json.encode: nested too deep (a cycle?)");
  luaL_checkstack(L, 8, "json.encode");
  if (is_marked_array(L, idx)) {
    encode_array(L, b, idx, (lua_Integer)lua_rawlen(L, idx), depth);
    return;
  }
  lua_Integer n = array_length(L, idx);
  if (n > 0) encode_array(L, b, idx, n, depth);
  else encode_object(L, b, idx, depth);
}

static void encode_value(lua_State *L, out_buf *b, int idx, int depth) {
  size_t len;
  const char *s;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: add_str(b, "null"); break;
    case LUA_TBOOLEAN: add_str(b, lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TNUMBER: encode_number(L, b, idx); break;
    case LUA_TSTRING:
      s = lua_tolstring(L, idx, &len);
      encode_string(b, s, len);
      break;
    case LUA_TTABLE: encode_table(L, b, idx, depth); break;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) { add_str(b, "null"); break; }
      /* fall through */
    default:
      tr_raise(L, "usage", "json.encode: cannot encode a %s", luaL_typename(L, idx));
  }
}

/* json.encode(v): [-1, +1, e] compact JSON text. */
static int l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  out_buf *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  b->L = L;
  luaL_setmetatable(L, OUT_MT);
  encode_value(L, b, 1, 0);
  lua_pushlstring(L, b->p ? b->p : "", b->n);
  return 1;
}

/* json.array(t): [-1, +1] marks t (default {}) so it encodes as an array, even when empty. */
static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, ARRAY_MT);
  return 1;
}

static int l_is_array(lua_State *L) {
  lua_pushboolean(L, lua_istable(L, 1) && is_marked_array(L, 1));
  return 1;
}

int luaopen_taskrun_json(lua_State *L) {
  luaL_newmetatable(L, ARRAY_MT);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  luaL_newmetatable(L, OUT_MT);
  lua_pushcfunction(L, out_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_createtable(L, 0, 6);
  luaopen_cjson(L);
  lua_getfield(L, -1, "decode");
  lua_pushcclosure(L, l_decode, 1);
  lua_setfield(L, -3, "decode");
  lua_getfield(L, -1, "null");
  lua_setfield(L, -3, "null");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_encode);
  lua_setfield(L, -2, "encode");
  lua_pushcfunction(L, l_array);
  lua_setfield(L, -2, "array");
  lua_pushcfunction(L, l_is_array);
  lua_setfield(L, -2, "is_array");
  return 1;
}
