/* taskrun._provider: the provider descriptors as Lua tables, with the things done in C for
 * every provider alike: filling URL templates, normalizing a vendor object into a Task (or
 * building one from normalized fields), and reading a vendor error envelope. */
#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"
#include "excerpt.h"
#include "provider.h"
#include "stackcheck.h"
#include "urlescape.h"

#define TR_PROVIDER(name) &tr_provider_##name,
const tr_provider *const tr_providers[] = {
#include "providers.def"
  NULL
};
#undef TR_PROVIDER

void tr_copy_field(lua_State *L, int obj, const char *from, int task, const char *to, int type) {
  int t = lua_getfield(L, obj, from);
  if (t != LUA_TNIL && (type == LUA_TNONE || t == type)) lua_setfield(L, task, to);
  else lua_pop(L, 1);
}

void tr_set_message(lua_State *L, int obj, const char *field, int task) {
  if (lua_getfield(L, obj, field) == LUA_TSTRING && lua_rawlen(L, -1) > 0)
    lua_setfield(L, task, "message");
  else
    lua_pop(L, 1);
}

void tr_push_pair(lua_State *L, int body, const char *first, const char *second) {
  lua_getfield(L, body, first);
  lua_getfield(L, body, second);
  int has1 = lua_type(L, -2) == LUA_TSTRING && lua_rawlen(L, -2) > 0;
  int has2 = lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0;
  if (has1 && has2) lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
  else if (has1 || has2) lua_pushvalue(L, has1 ? -2 : -1);
  else lua_pushnil(L);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

void tr_push_pair_with_items(lua_State *L, int body, const char *first, const char *second,
                             const char *list, const char *item1, const char *item2) {
  tr_push_pair(L, body, first, second);
  if (lua_isnil(L, -1)) return;
  int words = lua_gettop(L);
  if (lua_getfield(L, body, list) == LUA_TTABLE) {
    int items = lua_gettop(L);
    for (lua_Integer i = 1; lua_rawgeti(L, items, i) == LUA_TTABLE; i++) {
      tr_push_pair(L, lua_gettop(L), item1, item2);
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

static const tr_provider *self(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

static const char *status_of(const tr_provider *p, const char *state) {
  for (const tr_state_map *s = p->states; state && s->state; s++)
    if (strcmp(s->state, state) == 0) return s->status;
  return "unknown";
}

/* [-0, +0] Sets status, done and ok on the Task at `task` from its `state` (through the
 * descriptor's map), or from a `status` it already has. */
static void settle(lua_State *L, const tr_provider *p, int task) {
  TR_STACK_BEGIN(L);
  const char *status;
  if (lua_getfield(L, task, "status") == LUA_TSTRING) {
    status = lua_tostring(L, -1);
  } else {
    lua_getfield(L, task, "state");
    status = status_of(p, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  int ok = strcmp(status, "succeeded") == 0;
  int done = ok || strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0;
  lua_pushstring(L, status);   /* copied before the value `status` points into is popped */
  lua_setfield(L, task, "status");
  lua_pop(L, 1);
  lua_pushboolean(L, done);
  lua_setfield(L, task, "done");
  lua_pushboolean(L, ok);
  lua_setfield(L, task, "ok");
  TR_STACK_END(L, 0, 0);
}

/* The fields a Task is made with room for: provider, id, state, status, done, ok and raw, and
 * one of message, progress or install_id. A Task with more grows (Lua doubles a table's part),
 * but the common one fits the eight slots exactly, where room for ten takes sixteen: 256 bytes
 * less for every Task a wait holds (10,000 waits hold 10,000 Tasks). */
#define TASK_FIELDS 8

/* spec.task(obj): [-1, +1] the normalized Task fields for one vendor object. */
static int l_task(lua_State *L) {
  const tr_provider *p = self(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_createtable(L, 0, TASK_FIELDS);
  lua_pushstring(L, p->name);
  lua_setfield(L, 2, "provider");
  p->describe(L, 1, 2);
  lua_pushnil(L);   /* describe never sets status: the state map decides */
  lua_setfield(L, 2, "status");
  settle(L, p, 2);
  lua_pushvalue(L, 1);
  lua_setfield(L, 2, "raw");
  return 1;
}

static const char *const statuses[] = {
  "pending", "running", "paused", "succeeded", "failed", "cancelled", "unknown", NULL
};

/* spec.task_of(fields, raw): [-2, +1] a Task from normalized fields, for what a vendor tells
 * without a task object (Keycard's 303, a Redpanda task deleted once finished): `id`, `state`
 * (the vendor's state, may be nil), `status` (one of the normalized statuses; from the state
 * when nil), `message`, `progress`, `install_id`. `raw` is the vendor object, or an empty
 * table. Kind "usage" on a status that is not one of the normalized ones. */
static int l_task_of(lua_State *L) {
  const tr_provider *p = self(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_getfield(L, 1, "status") != LUA_TNIL) {
    const char *s = lua_tostring(L, -1);
    int i = 0;
    while (s && statuses[i] && strcmp(statuses[i], s) != 0) i++;
    if (!s || !statuses[i]) {
      tr_push_error(L, "usage", "%s: task_of: %s is not a task status", p->name,
                    s ? s : luaL_typename(L, -1));
      lua_error(L);
    }
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, TASK_FIELDS);
  lua_pushstring(L, p->name);
  lua_setfield(L, 3, "provider");
  static const char *const fields[] = {
    "id", "state", "status", "message", "progress", "install_id", NULL
  };
  for (int i = 0; fields[i]; i++) {
    lua_getfield(L, 1, fields[i]);
    lua_setfield(L, 3, fields[i]);
  }
  settle(L, p, 3);
  if (lua_istable(L, 2)) lua_pushvalue(L, 2);
  else lua_newtable(L);
  lua_setfield(L, 3, "raw");
  return 1;
}

/* spec.status(state): [-1, +1] the normalized status of a vendor state. */
static int l_status(lua_State *L) {
  lua_pushstring(L, status_of(self(L), luaL_optstring(L, 1, NULL)));
  return 1;
}

/* spec.error_words(body): [-1, +1] the vendor's own words from a decoded error body, or nil. */
static int l_error_words(lua_State *L) {
  if (!lua_istable(L, 1)) {
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, 1);
  self(L)->error_words(L, 1);
  return 1;
}

/* Why a path variable's text cannot go into a path, or NULL when it can. "." and ".." would
 * be read as dot segments (keycard.uninstall("zone1", "..") would DELETE the zone's parent),
 * an empty one drops a segment, and a control character has no place in a request line. */
static const char *bad_path_variable(const char *s, size_t len) {
  if (len == 0) return "it is empty";
  if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
    return "a path segment cannot be \".\" or \"..\"";
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return "it holds a control character";
  return NULL;
}

/* [-1, +0, v] Raises kind "usage" with `provider` set and the message at the top. */
static void raise_route(lua_State *L, const tr_provider *p) {
  tr_push_error(L, "usage", "%s", lua_tostring(L, -1));
  lua_pushstring(L, p->name);
  lua_setfield(L, -2, "provider");
  lua_error(L);
}

/* [-1, +1, e] Replaces the variable's value at the top with its text, percent-encoded as
 * libcurl does; raises kind "usage" naming the provider, the operation and the variable (`name`)
 * when the value cannot be a path segment. */
static void push_segment(lua_State *L, const tr_provider *p, const char *op, const char *name) {
  TR_STACK_BEGIN(L);
  int t = lua_type(L, -1);
  if (t == LUA_TNUMBER && !lua_isinteger(L, -1) && !isfinite(lua_tonumber(L, -1))) {
    lua_pushfstring(L, "%s.%s: %s %s is not a number a path can hold; nothing was sent",
                    p->name, op, name, lua_tostring(L, -1));
    raise_route(L, p);
  }
  if (!(t == LUA_TNUMBER || t == LUA_TSTRING)) {
    lua_pushfstring(L, "%s.%s needs %s (a string or number), got %s", p->name, op, name,
                    t == LUA_TNIL ? "nothing" : luaL_typename(L, -1));
    raise_route(L, p);
  }
  size_t len;
  const char *raw = lua_tolstring(L, -1, &len);
  const char *why = bad_path_variable(raw, len);
  if (why) {
    tr_push_excerpt(L, raw, len);
    lua_pushfstring(L, "%s.%s: %s %s cannot go into the request path: %s; nothing was sent",
                    p->name, op, name, lua_tostring(L, -1), why);
    raise_route(L, p);
  }
  tr_push_url_escaped(L, raw, len);
  lua_replace(L, -2);
  TR_STACK_END(L, 1, 1);
}

/* spec.route(op, vars [, defaults [, base]]): [-4, +2] the method and the path with each {name}
 * replaced by vars[name], else defaults[name] (the client's account: no table merging both per
 * request), percent-encoded; with `base` (a string: the client's URL), base .. path, made as one
 * string rather than two per request. Raises kind "usage" (with `provider`) when a variable is
 * missing, or empty, ".", "..", or holds a control character: such a request is never sent. */
static int l_route(lua_State *L) {
  const tr_provider *p = self(L);
  const char *op = luaL_checkstring(L, 1);
  const tr_route *r = p->routes;
  while (r->op && strcmp(r->op, op) != 0) r++;
  if (!r->op) return luaL_error(L, "%s: no operation '%s'", p->name, op);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TSTRING);
  lua_settop(L, 4);
  TR_STACK_BEGIN(L);
  lua_pushstring(L, r->method);
  int pieces = 0;
  if (!lua_isnil(L, 4)) {
    lua_pushvalue(L, 4);
    pieces++;
  }
  for (const char *s = r->path; *s;) {
    luaL_checkstack(L, 4, "route");
    const char *open = strchr(s, '{');
    if (!open) {
      lua_pushstring(L, s);
      pieces++;
      break;
    }
    lua_pushlstring(L, s, (size_t)(open - s));
    const char *close = strchr(open, '}');
    lua_pushlstring(L, open + 1, (size_t)(close - open - 1));
    const char *name = lua_tostring(L, -1);
    if (!lua_istable(L, 2) || lua_getfield(L, 2, name) == LUA_TNIL) {
      if (lua_istable(L, 2)) lua_pop(L, 1);
      if (lua_istable(L, 3)) lua_getfield(L, 3, name);
      else lua_pushnil(L);
    }
    push_segment(L, p, op, name);
    lua_replace(L, -2);
    pieces += 2;
    s = close + 1;
  }
  lua_concat(L, pieces);
  lua_rotate(L, 1, -4);   /* leave exactly the two results: the effect below is the frame's */
  lua_settop(L, 2);
  TR_STACK_END(L, 4, 2);
  return 2;
}

/* [-0, +0] t[key] = s when s is not NULL. */
static void set_string(lua_State *L, int t, const char *key, const char *s) {
  if (!s) return;
  lua_pushstring(L, s);
  lua_setfield(L, t, key);
}

/* [-0, +1] The credentials part of a descriptor: spec.credentials. */
static void push_credentials(lua_State *L, const tr_credentials *c) {
  TR_STACK_BEGIN(L);
  lua_createtable(L, 0, 10);
  int t = lua_gettop(L);
  set_string(L, t, "token_env", c->token_env);
  set_string(L, t, "grant", c->grant);
  set_string(L, t, "client_id_env", c->client_id_env);
  set_string(L, t, "default_client_id", c->default_client_id);
  set_string(L, t, "client_secret_env", c->client_secret_env);
  set_string(L, t, "refresh_token_env", c->refresh_token_env);
  set_string(L, t, "auth_url_env", c->auth_url_env);
  set_string(L, t, "default_auth_url", c->default_auth_url);
  set_string(L, t, "auth_path", c->auth_path);
  set_string(L, t, "audience", c->audience);
  TR_STACK_END(L, 0, 1);
}

/* [-0, +1] spec.settings: { { env =, option = }, ... } in the descriptor's order. */
static void push_settings(lua_State *L, const tr_setting *s) {
  lua_newtable(L);
  for (int i = 0; s && s[i].env; i++) {
    lua_createtable(L, 0, 2);
    set_string(L, lua_gettop(L), "env", s[i].env);
    set_string(L, lua_gettop(L), "option", s[i].option);
    lua_rawseti(L, -2, i + 1);
  }
}

static void push_provider(lua_State *L, const tr_provider *p) {
  static const luaL_Reg funcs[] = {
    { "task", l_task }, { "task_of", l_task_of }, { "status", l_status },
    { "error_words", l_error_words }, { "route", l_route }, { NULL, NULL }
  };
  lua_createtable(L, 0, 12);
  int t = lua_gettop(L);
  lua_pushlightuserdata(L, (void *)p);
  luaL_setfuncs(L, funcs, 1);
  set_string(L, t, "name", p->name);
  set_string(L, t, "url_env", p->url_env);
  set_string(L, t, "default_url", p->default_url);
  set_string(L, t, "url_hint", p->url_hint);
  set_string(L, t, "token_env", p->credentials.token_env);
  push_credentials(L, &p->credentials);
  lua_setfield(L, t, "credentials");
  push_settings(L, p->settings);
  lua_setfield(L, t, "settings");
}

int luaopen_taskrun_provider(lua_State *L) {
  lua_newtable(L);
  for (int i = 0; tr_providers[i]; i++) {
    push_provider(L, tr_providers[i]);
    lua_setfield(L, -2, tr_providers[i]->name);
  }
  return 1;
}
