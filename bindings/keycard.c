/* Keycard catalog tasks. A completed task answers 303 See Other to the install; the Lua side
 * reads it as success and never follows it. Vendor reference:
 * https://docs.keycard.ai/api/resources/zones/subresources/catalog_tasks/ */
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
  tr_push_pair_with_items(L, body, "code", "message", "details", "field", "message");
}

const tr_provider tr_provider_keycard = {
  "keycard", "KEYCARD_API_URL", "https://api.keycard.ai", "the Keycard API base URL",
  "KEYCARD_TOKEN", (const char *const[]){ NULL }, routes, states, describe, error_words
};
