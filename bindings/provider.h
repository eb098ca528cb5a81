/* A vendor task API described once: where it lives, how to reach it, how its credentials are
 * had, what its states mean and how its errors read. bindings/provider.c turns each descriptor
 * into the Lua table that stdlib/taskrun/provider.lua builds clients on (taskrun._provider).
 *
 * Adding a provider takes two files and one line: its descriptor in bindings/NAME.c, its
 * methods in stdlib/taskrun/NAME.lua (`return provider.module("NAME", methods)`), and the line
 * TR_PROVIDER(NAME) in bindings/providers.def. Everything else (the C array, taskrun.NAME, the
 * settings checks) is derived from that list. Its methods that start or change something are
 * declared as call descriptors in the module (stdlib/taskrun/calls.lua), to be journaled. */
#ifndef TR_PROVIDER_H
#define TR_PROVIDER_H
#include <lua.h>

/* A vendor state and what it means in the normalized Task. */
typedef struct {
  const char *state;
  const char *status;   /* pending, running, paused, succeeded, failed, cancelled */
} tr_state_map;

/* An operation: "GET /v1/cloud-storage/mount-tasks/{id}". Placeholders are filled from the
 * call's variables, each percent-encoded. */
typedef struct {
  const char *op;
  const char *method;
  const char *path;
} tr_route;

/* A variable the paths need besides the URL, and the client option that stands for it:
 * { "ASTRA_ACCOUNT_ID", "account" } -> astra.client{ account = ... }. */
typedef struct {
  const char *env;
  const char *option;
} tr_setting;

/* How a provider's bearer token is had. Every variable named here that holds a secret (the
 * token, the client secret, the refresh token) also has a *_FILE form read from a file.
 * The grants (stdlib/taskrun/auth.lua does the requests):
 *   NULL                        static tokens only (token_env or an explicit token)
 *   "client_credentials"        OAuth2 form POST with client_id, client_secret (and audience)
 *   "client_credentials_basic"  form POST grant_type=client_credentials, the id and secret in
 *                               Authorization: Basic
 *   "refresh_token"             JSON POST {grant_type, refresh_token, client_id} */
typedef struct {
  const char *token_env;           /* the static bearer token: REDPANDA_TOKEN */
  const char *grant;
  const char *client_id_env;       /* the client id, or (refresh_token) its override */
  const char *default_client_id;   /* NULL: client_id_env must be set */
  const char *client_secret_env;   /* client_credentials grants */
  const char *refresh_token_env;   /* the refresh_token grant */
  const char *auth_url_env;        /* NULL: the token URL is the API's base URL + auth_path */
  const char *default_auth_url;
  const char *auth_path;
  const char *audience;            /* sent with client_credentials when not NULL */
} tr_credentials;

typedef struct {
  const char *name;              /* "redpanda": Task.provider */
  const char *url_env;           /* the variable with the base URL */
  const char *default_url;       /* NULL when every user has their own */
  const char *url_hint;          /* what to set url_env to, for the usage error */
  tr_credentials credentials;
  const tr_setting *settings;    /* more variables the paths need ({ NULL } ends) */
  const tr_route *routes;        /* ends with a NULL op */
  const tr_state_map *states;    /* ends with a NULL state */
  /* [-0, +0] Sets id, state, message and progress on the Task at `task` from the vendor's
   * object at `obj` (already unwrapped by the Lua side). */
  void (*describe)(lua_State *L, int obj, int task);
  /* [-0, +1] Pushes the vendor's own words from a decoded error body at `body`, or nil. */
  void (*error_words)(lua_State *L, int body);
} tr_provider;

#define TR_PROVIDER(name) extern const tr_provider tr_provider_##name;
#include "providers.def"
#undef TR_PROVIDER

/* Every descriptor of providers.def, in its order; NULL ends. */
extern const tr_provider *const tr_providers[];

/* Helpers for the descriptors' callbacks. */
/* [-0, +0] Copies obj[from] to task[to] when it has type `type` (LUA_TNONE: any non-nil). */
void tr_copy_field(lua_State *L, int obj, const char *from, int task, const char *to, int type);
/* [-0, +0] Sets task.message from obj[field] when that is a non-empty string. */
void tr_set_message(lua_State *L, int obj, const char *field, int task);
/* [-0, +1] Pushes "a: b" from two string fields of body (either may be missing), or nil. */
void tr_push_pair(lua_State *L, int body, const char *first, const char *second);
/* [-0, +1] Like tr_push_pair, then " (a: b)" for each table in body[list] from its item1 and
 * item2 fields: the per-field reasons vendors attach to a validation error. */
void tr_push_pair_with_items(lua_State *L, int body, const char *first, const char *second,
                             const char *list, const char *item1, const char *item2);

#endif
