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
  { "installs", "GET", "/zones/{zone}/installs" },
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

/* Service account credentials: form POST grant_type=client_credentials to the API's
 * /service-account-token, the id and secret in Authorization: Basic.
 * Creating the credentials: https://docs.keycard.ai/api/, under organizations, service
 * accounts, credentials: create. */
const tr_provider tr_provider_keycard = {
  .name = "keycard",
  .url_env = "KEYCARD_API_URL",
  .default_url = "https://api.keycard.ai",
  .url_hint = "the Keycard API base URL",
  .credentials = {
    .token_env = "KEYCARD_TOKEN",
    .grant = "client_credentials_basic",
    .client_id_env = "KEYCARD_CLIENT_ID",
    .client_secret_env = "KEYCARD_CLIENT_SECRET",
    .auth_path = "/service-account-token",
  },
  .settings = (const tr_setting[]){ { NULL, NULL } },
  .routes = routes, .states = states, .describe = describe, .error_words = error_words,
};
