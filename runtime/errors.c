/* Error tables and the exit codes they map to. */
#include "errors.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <string.h>

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  const char *kind = lua_tostring(L, -2);
  const char *msg = lua_tostring(L, -1);
  lua_pushfstring(L, "%s: %s", kind ? kind : "error", msg ? msg : "(no message)");
  return 1;
}

void tr_errors_init(lua_State *L) {
  luaL_newmetatable(L, TR_ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

static void push_error_v(lua_State *L, const char *kind, const char *fmt, va_list ap) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushvfstring(L, fmt, ap);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, TR_ERROR_MT);
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

const char *tr_error_text(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNIL) {
    lua_pushliteral(L, "error object is nil");
    return lua_tostring(L, -1);
  }
  /* A plain { kind =, message = } table reads as one of ours. */
  if (lua_type(L, idx) == LUA_TTABLE && luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL) {
    idx = lua_absindex(L, idx);
    lua_getfield(L, idx, "message");
    if (lua_type(L, -1) == LUA_TSTRING) {
      lua_getfield(L, idx, "kind");
      lua_pushfstring(L, "%s: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "error",
                      lua_tostring(L, -2));
      lua_replace(L, -3);
      lua_pop(L, 1);
      return lua_tostring(L, -1);
    }
    lua_pop(L, 1);
  } else if (lua_type(L, idx) == LUA_TTABLE) {
    lua_pop(L, 1);
  }
  return luaL_tolstring(L, idx, NULL);
}

int tr_error_exit_code(lua_State *L, int idx) {
  static const struct { const char *kind; int code; } codes[] = {
    { "usage", 2 }, { "failed", 3 }, { "cancelled", 3 }, { "timeout", 4 }, { "auth", 5 },
  };
  int code = 1;
  if (lua_type(L, idx) != LUA_TTABLE) return code;
  lua_getfield(L, idx, "kind");
  const char *kind = lua_tostring(L, -1);
  for (size_t i = 0; kind && i < sizeof codes / sizeof codes[0]; i++)
    if (strcmp(kind, codes[i].kind) == 0) code = codes[i].code;
  lua_pop(L, 1);
  return code;
}

int tr_error_new_lua(lua_State *L) {
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
  return 1;
}
