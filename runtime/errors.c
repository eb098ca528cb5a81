/* Error tables and the exit codes they map to. */
#include "errors.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "stackcheck.h"
#include "stdlib_embed.h"

/* [-0, +1 or +0] Pushes t[key] read raw and returns 1 when it is a string; else pushes nothing
 * and returns 0. */
static int raw_string(lua_State *L, int t, const char *key) {
  TR_STACK_BEGIN(L);
  lua_pushstring(L, key);
  int found = lua_rawget(L, t) == LUA_TSTRING;
  if (!found) lua_pop(L, 1);
  TR_STACK_END(L, 0, found);
  return found;
}

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  const char *kind = lua_tostring(L, -2);
  const char *msg = lua_tostring(L, -1);
  lua_pushfstring(L, "%s: %s", kind ? kind : "error", msg ? msg : "(no message)");
  return 1;
}

void tr_errors_init(lua_State *L) {
  TR_STACK_BEGIN(L);
  luaL_newmetatable(L, TR_ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
}

/* [-0, +1, m] */
static void push_error_v(lua_State *L, const char *kind, const char *fmt, va_list ap) {
  TR_STACK_BEGIN(L);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushvfstring(L, fmt, ap);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, TR_ERROR_MT);
  TR_STACK_END(L, 0, 1);
}

void tr_push_error(lua_State *L, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_error_v(L, kind, fmt, ap);
  va_end(ap);
}

int tr_raise(lua_State *L, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_error_v(L, kind, fmt, ap);
  va_end(ap);
  return lua_error(L);
}

/* [-0, +1] Lua: the text of its argument through its __tostring, for tr_error_text to call
 * under protection. */
static int call_tostring(lua_State *L) {
  TR_STACK_BEGIN(L);
  luaL_tolstring(L, 1, NULL);
  TR_STACK_END(L, 0, 1);
  return 1;
}

const char *tr_error_text(lua_State *L, int idx) {
  TR_STACK_BEGIN(L);
  idx = lua_absindex(L, idx);
  int type = lua_type(L, idx);
  if (type == LUA_TNIL) {
    lua_pushliteral(L, "error object is nil");
  } else if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
    /* Any code may run here: an error raised by it, or a result that is not a string, must
     * not escape from the reporting of another error. */
    lua_pop(L, 1);
    lua_pushcfunction(L, call_tostring);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      const char *why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "a non-string";
      lua_pushfstring(L, "(error object is a %s value whose __tostring raised: %s)",
                      lua_typename(L, type), why);
      lua_replace(L, -2);
    }
  } else if (type == LUA_TTABLE && raw_string(L, idx, "message")) {
    /* A plain { kind =, message = } table reads as one of ours. Raw reads: an __index may
     * raise too. */
    if (!raw_string(L, idx, "kind")) lua_pushliteral(L, "error");
    lua_pushfstring(L, "%s: %s", lua_tostring(L, -1), lua_tostring(L, -2));
    lua_replace(L, -3);
    lua_pop(L, 1);
  } else {
    /* No metamethod left to call: luaL_tolstring only reads __name, raw. */
    luaL_tolstring(L, idx, NULL);
  }
  TR_STACK_END(L, 0, 1);
  return lua_tostring(L, -1);
}

int tr_error_exit_code(lua_State *L, int idx) {
  static const struct { const char *kind; int code; } codes[] = {
    { "usage", 2 }, { "failed", 3 }, { "cancelled", 3 }, { "timeout", 4 }, { "auth", 5 },
    { "in_doubt", 6 },
  };
  TR_STACK_BEGIN(L);
  int code = 1;
  if (lua_type(L, idx) != LUA_TTABLE) return code;
  idx = lua_absindex(L, idx);
  /* Raw: deciding the exit code runs no runbook code, which could raise. */
  if (raw_string(L, idx, "kind")) {
    const char *kind = lua_tostring(L, -1);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
      if (strcmp(kind, codes[i].kind) == 0) code = codes[i].code;
    lua_pop(L, 1);
  }
  TR_STACK_END(L, 0, 0);
  return code;
}

int tr_error_new_lua(lua_State *L) {
  TR_STACK_BEGIN(L);
  const char *kind = luaL_checkstring(L, 1);
  const char *msg = luaL_checkstring(L, 2);
  lua_createtable(L, 0, 4);
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -4);
    }
  }
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, TR_ERROR_MT);
  TR_STACK_END(L, 0, 1);
  return 1;
}

int tr_error_expected(lua_State *L, int idx) {
  static const char *const kinds[] = {
    "transport", "http", "auth", "not_found", "decode", "failed", "cancelled", "timeout",
    "usage", "in_doubt", NULL
  };
  TR_STACK_BEGIN(L);
  int expected = 0;
  if (lua_type(L, idx) == LUA_TTABLE && raw_string(L, lua_absindex(L, idx), "kind")) {
    const char *kind = lua_tostring(L, -1);
    for (int i = 0; kinds[i] && !expected; i++) expected = strcmp(kind, kinds[i]) == 0;
    lua_pop(L, 1);
  }
  TR_STACK_END(L, 0, 0);
  return expected;
}

/* Whether a chunk is one of the stdlib's: compared with the embedded list itself, so that a
 * runbook of the user's that happens to sit in a folder named stdlib/ still counts as theirs. */
static int stdlib_chunk(const char *source) {
  for (const tr_embedded_module *m = tr_stdlib_modules; m->name; m++)
    if (strcmp(source, m->chunkname) == 0) return 1;
  return 0;
}

int tr_error_where(lua_State *co, char *buf, size_t n) {
  lua_Debug ar;
  for (int level = 0; lua_getstack(co, level, &ar); level++) {
    if (!lua_getinfo(co, "Sl", &ar) || ar.currentline <= 0 || stdlib_chunk(ar.source))
      continue;
    /* "@file" and "=name" name the chunk themselves; short_src is cut at 60 bytes. A string
     * chunk (load("...")) has only short_src: [string "..."]. */
    const char *name = ar.source[0] == '@' || ar.source[0] == '=' ? ar.source + 1 : ar.short_src;
    snprintf(buf, n, "%s:%d", name, ar.currentline);
    return 0;
  }
  return -1;
}
