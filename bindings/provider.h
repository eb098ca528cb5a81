/* A vendor task API described once: where it lives, how to reach it, what its states mean and
 * how its errors read. bindings/provider.c turns each descriptor into the Lua table that
 * stdlib/taskrun/provider.lua builds clients on.
 *
 * Adding a provider today takes five edits: its descriptor in bindings/NAME.c, the extern
 * below, its entry in providers[] (bindings/provider.c), its methods in
 * stdlib/taskrun/NAME.lua, and its name in init.lua's submodules (plus option_of in
 * provider.lua when it reads extra variables). */
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

typedef struct {
  const char *name;              /* "redpanda": Task.provider */
  const char *url_env;           /* the variable with the base URL */
  const char *default_url;       /* NULL when every user has their own */
  const char *url_hint;          /* what to set url_env to, for the usage error */
  const char *token_env;
  const char *const *required_env;   /* more variables the paths need (NULL-terminated) */
  const tr_route *routes;        /* ends with a NULL op */
  const tr_state_map *states;    /* ends with a NULL state */
  /* [-0, +0] Sets id, state, message and progress on the Task at `task` from the vendor's
   * object at `obj` (already unwrapped by the Lua side). */
  void (*describe)(lua_State *L, int obj, int task);
  /* [-0, +1] Pushes the vendor's own words from a decoded error body at `body`, or nil. */
  void (*error_words)(lua_State *L, int body);
} tr_provider;

extern const tr_provider tr_provider_redpanda, tr_provider_keycard, tr_provider_astra,
  tr_provider_bluexp;

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
