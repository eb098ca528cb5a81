/* NetApp BlueXP backup and recovery jobs. `time` stays an integer (epoch ms): taskrun.json
 * keeps integral numbers integers. Vendor reference:
 * https://docs.netapp.com/us-en/bluexp-automation/cbs/ */
#include <lauxlib.h>

#include "provider.h"

#define CBS "/account/{account}/providers/cloudmanager_cbs/api"

static const tr_route routes[] = {
  { "restore_status", "GET", CBS "/v1/restore/status" },
  { "job", "GET", CBS "/v1/job/{id}" },
  { "restore_v1", "POST", CBS "/v1/restore" },
  { "restore_v2", "POST", CBS "/v2/restore" },
  { "restore_v3", "POST", CBS "/v3/restore" },
  { NULL, NULL, NULL }
};

static const tr_state_map states[] = {
  { "PENDING", "pending" }, { "IN_PROGRESS", "running" },
  { "COMPLETED", "succeeded" }, { "SUCCESS", "succeeded" }, { "FAILED", "failed" },
  { NULL, NULL }
};

static void describe(lua_State *L, int obj, int task) {
  tr_copy_field(L, obj, "id", task, "id", LUA_TSTRING);
  tr_copy_field(L, obj, "status", task, "state", LUA_TSTRING);
  tr_set_message(L, obj, "error", task);
}

/* {"error":"<code/category>","message":"<description>"} */
static void error_words(lua_State *L, int body) {
  tr_push_pair(L, body, "error", "message");
}

/* A user token (one day), or a refresh token exchanged at NetApp's Auth0 tenant for one with
 * the client id NetApp documents:
 * https://docs.netapp.com/us-en/bluexp-automation/platform/create_user_token.html */
const tr_provider tr_provider_bluexp = {
  .name = "bluexp",
  .url_env = "BLUEXP_URL",
  .default_url = "https://api.bluexp.netapp.com",
  .url_hint = "the BlueXP API base URL",
  .credentials = {
    .token_env = "BLUEXP_TOKEN",
    .grant = "refresh_token",
    .client_id_env = "BLUEXP_AUTH_CLIENT_ID",
    .default_client_id = "Mu0V1ywgYteI6w1MbD15fKfVIUrNXGWC",
    .refresh_token_env = "BLUEXP_REFRESH_TOKEN",
    .auth_url_env = "BLUEXP_AUTH_URL",
    .default_auth_url = "https://netapp-cloud-account.auth0.com/oauth/token",
  },
  .settings = (const tr_setting[]){ { "BLUEXP_ACCOUNT_ID", "account" },
                                    { "BLUEXP_AGENT_ID", "agent_id" }, { NULL, NULL } },
  .routes = routes, .states = states, .describe = describe, .error_words = error_words,
};
