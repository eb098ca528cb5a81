/* NetApp Astra Control tasks. `paused` can last forever: only the caller's deadline ends it.
 * Vendor reference:
 * https://docs.netapp.com/us-en/astra-automation/reference/get-accounts-core-v1-tasks.html */
#include <lauxlib.h>

#include "provider.h"

static const tr_route routes[] = {
  { "task", "GET", "/accounts/{account}/core/v1/tasks/{id}" },
  { "tasks", "GET", "/accounts/{account}/core/v1/tasks" },
  { "backup", "POST", "/accounts/{account}/k8s/v1/apps/{app}/appBackups" },
  { "app_backups", "GET", "/accounts/{account}/k8s/v1/apps/{app}/appBackups" },
  { NULL, NULL, NULL }
};

static const tr_state_map states[] = {
  { "notStarted", "pending" },
  { "running", "running" }, { "pausing", "running" }, { "cancelling", "running" },
  { "paused", "paused" }, { "completed", "succeeded" },
  { "failed", "failed" }, { "cancelled", "cancelled" },
  { NULL, NULL }
};

/* The first stateDetails entry says why a task is not where it should be. */
static void describe(lua_State *L, int obj, int task) {
  tr_copy_field(L, obj, "id", task, "id", LUA_TSTRING);
  tr_copy_field(L, obj, "state", task, "state", LUA_TSTRING);
  tr_copy_field(L, obj, "percentDone", task, "progress", LUA_TNUMBER);
  int top = lua_gettop(L);
  if (lua_getfield(L, obj, "stateDetails") == LUA_TTABLE &&
      lua_rawgeti(L, -1, 1) == LUA_TTABLE) {
    tr_push_pair(L, lua_gettop(L), "title", "detail");
    if (lua_isstring(L, -1)) lua_setfield(L, task, "message");
    else lua_pop(L, 1);
  }
  lua_settop(L, top);
}

/* problem+json: {"type","title","detail","status":"404","invalidParams":[{name,reason}]} */
static void error_words(lua_State *L, int body) {
  tr_push_pair_with_items(L, body, "title", "detail", "invalidParams", "name", "reason");
}

/* API tokens do not expire: a static token only. */
const tr_provider tr_provider_astra = {
  .name = "astra",
  .url_env = "ASTRA_URL",
  .default_url = "https://astra.netapp.io",
  .url_hint = "the Astra Control base URL",
  .credentials = { .token_env = "ASTRA_TOKEN" },
  .settings = (const tr_setting[]){ { "ASTRA_ACCOUNT_ID", "account" }, { NULL, NULL } },
  .routes = routes, .states = states, .describe = describe, .error_words = error_words,
};
