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

const tr_provider tr_provider_bluexp = {
  "bluexp", "BLUEXP_URL", "https://api.bluexp.netapp.com", "the BlueXP API base URL",
  "BLUEXP_TOKEN", (const char *const[]){ "BLUEXP_ACCOUNT_ID", "BLUEXP_AGENT_ID", NULL }, routes,
  states, describe, error_words
};
