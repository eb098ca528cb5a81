/* Redpanda Cloud data plane: mount tasks and the topic list. No failed state: errors are
 * retried by Redpanda forever, so only the caller's deadline ends a stuck task. Vendor
 * references: https://docs.redpanda.com/redpanda-cloud/manage/mountable-topics and
 * https://docs.redpanda.com/api/doc/cloud-dataplane/operation/operation-topicservice_listtopics */
#include <lauxlib.h>

#include "provider.h"

static const tr_route routes[] = {
  { "mount_task", "GET", "/v1/cloud-storage/mount-tasks/{id}" },
  { "mount_tasks", "GET", "/v1/cloud-storage/mount-tasks" },
  { "mount", "POST", "/v1/cloud-storage/topics/mount" },
  { "unmount", "POST", "/v1/cloud-storage/topics/unmount" },
  { "update", "POST", "/v1/cloud-storage/mount-tasks/{id}" },
  { "delete", "DELETE", "/v1/cloud-storage/mount-tasks/{id}" },
  /* The cluster's topics: how a mount or unmount task deleted once finished is verified. */
  { "topics", "GET", "/v1/topics" },
  { NULL, NULL, NULL }
};

static const tr_state_map states[] = {
  { "STATE_PLANNED", "pending" },
  { "STATE_PREPARING", "running" }, { "STATE_PREPARED", "running" },
  { "STATE_EXECUTING", "running" }, { "STATE_EXECUTED", "running" },
  { "STATE_CUT_OVER", "running" }, { "STATE_CANCELING", "running" },
  { "STATE_FINISHED", "succeeded" }, { "STATE_CANCELLED", "cancelled" },
  { NULL, NULL }
};

static void describe(lua_State *L, int obj, int task) {
  tr_copy_field(L, obj, "id", task, "id", LUA_TNUMBER);
  tr_copy_field(L, obj, "state", task, "state", LUA_TSTRING);
}

/* google.rpc.Status with `code` as an enum string: {"code":"NOT_FOUND","message":"..."} */
static void error_words(lua_State *L, int body) {
  tr_push_pair(L, body, "code", "message");
}

/* Client credentials (a Redpanda Cloud service account): form POST with the id, secret and the
 * audience; tokens live one hour.
 * https://docs.redpanda.com/redpanda-cloud/security/cloud-authentication/ */
const tr_provider tr_provider_redpanda = {
  .name = "redpanda",
  .url_env = "REDPANDA_DATAPLANE_URL",
  .url_hint = "your cluster's data-plane URL (the Control Plane API's dataplane_api.url)",
  .credentials = {
    .token_env = "REDPANDA_TOKEN",
    .grant = "client_credentials",
    .client_id_env = "REDPANDA_CLIENT_ID",
    .client_secret_env = "REDPANDA_CLIENT_SECRET",
    .auth_url_env = "REDPANDA_AUTH_URL",
    .default_auth_url = "https://auth.prd.cloud.redpanda.com/oauth/token",
    .audience = "cloudv2-production.redpanda.cloud",
  },
  .settings = (const tr_setting[]){ { NULL, NULL } },
  .routes = routes, .states = states, .describe = describe, .error_words = error_words,
};
