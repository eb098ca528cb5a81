/* Keycard catalog tasks (research/apis.md §2). A completed task answers 303 See Other to the
 * install; the Lua side reads it as success and never follows it. */
#include <lauxlib.h>
#include <string.h>

#include "provider.h"

static const tr_route routes[] = {
  { "catalog_task", "GET", "/zones/{zone}/catalog_tasks/{id}" },
  { "install", "POST", "/zones/{zone}/installs" },
  { "uninstall", "DELETE", "/zones/{zone}/installs/{id}" },
  { "get_install", "GET", "/zones/{zone}/installs/{id}" },
  { NULL, NULL, NULL }
};

static const tr_state_map states[] = {
  { "pending", "pending" }, { "running", "running" },
  { "completed", "succeeded" }, { "failed", "failed" },
  { NULL, NULL }
};

static void describe(lua_State *L, int obj, int task) {
  tr_copy_field(L, obj, "id", task, "id", LUA_TSTRING);
  tr_copy_field(L, obj, "status", task, "state", LUA_TSTRING);
  tr_copy_field(L, obj, "install_id", task, "install_id", LUA_TSTRING);
  tr_set_message(L, obj, "error_message", task);
}

/* {"status":404,"code":"not_found","message":"...","details":[{"field","message"}]} */
static void error_words(lua_State *L, int body) {
  tr_push_pair(L, body, "code", "message");
  if (lua_isnil(L, -1)) return;
  int words = lua_gettop(L);
  if (lua_getfield(L, body, "details") == LUA_TTABLE) {
    int details = lua_gettop(L);
    for (lua_Integer i = 1; lua_rawgeti(L, details, i) == LUA_TTABLE; i++) {
      tr_push_pair(L, lua_gettop(L), "field", "message");
      if (lua_isstring(L, -1)) {
        lua_pushfstring(L, "%s (%s)", lua_tostring(L, words), lua_tostring(L, -1));
        lua_replace(L, words);
      }
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

const tr_provider tr_provider_keycard = {
  "keycard", "KEYCARD_API_URL", "https://api.keycard.ai", "the Keycard API base URL",
  "KEYCARD_TOKEN", (const char *const[]){ NULL }, routes, states, describe, error_words
};
