/* libFuzzer target: spec.route of taskrun._provider, for every provider and operation, with
 * path variables taken from the input. A variable that is missing, empty, "." or "..", or that
 * holds a control character must be refused with kind "usage"; a path that is built keeps the
 * template's segments: no dot or empty segment, no '?' or '#', only printable ASCII. */
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#include "errors.h"
#include "fuzz_common.h"
#include "provider.h"

int luaopen_taskrun_provider(lua_State *L);

static const tr_provider *const *const providers = tr_providers;
static const char *const var_names[] = { "id", "zone", "account", "app" };
#define NVARS (sizeof var_names / sizeof var_names[0])

static lua_State *L;

typedef struct { const uint8_t *p; size_t n; } input;

static int take(input *in, void *out, size_t len) {
  if (in->n < len) return 0;
  memcpy(out, in->p, len);
  in->p += len;
  in->n -= len;
  return 1;
}

/* [-0, +1] One variable from the input: a string (most often), an integer, a float or nil. */
static void push_var(input *in) {
  uint8_t b = 0;
  if (!take(in, &b, 1)) { lua_pushliteral(L, "x"); return; }
  if (b == 0xfd) { lua_pushnil(L); return; }
  if (b == 0xfe || b == 0xff) {
    union { lua_Integer i; double d; } v = { 0 };
    take(in, &v, sizeof v);
    if (b == 0xff) lua_pushinteger(L, v.i);
    else lua_pushnumber(L, v.d);
    return;
  }
  size_t len = b % 64;
  if (len > in->n) len = in->n;
  lua_pushlstring(L, (const char *)in->p, len);
  in->p += len;
  in->n -= len;
}

static int is_bad_var(int idx) {
  int t = lua_type(L, idx);
  if (t == LUA_TNUMBER) return 0;
  if (t != LUA_TSTRING) return 1;
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (len == 0 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return 1;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 1;
  return 0;
}

static size_t count_char(const char *s, char c) {
  size_t n = 0;
  for (; *s; s++) n += *s == c;
  return n;
}

static void fail(const tr_route *r, const char *why, const char *path) {
  fprintf(stderr, "fuzz: route %s %s: %s: %s\n", r->op, r->path, why, path ? path : "");
  abort();
}

/* The path `spec.route` built for r must keep the template's shape. */
static void check_path(const tr_route *r, const char *method, const char *path, size_t len) {
  if (strcmp(method, r->method) != 0) fail(r, "method changed", method);
  if (strlen(path) != len) fail(r, "NUL in the path", path);
  if (path[0] != '/') fail(r, "no leading '/'", path);
  if (count_char(path, '/') != count_char(r->path, '/')) fail(r, "segments added", path);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)path[i];
    if (c <= 0x20 || c >= 0x7f) fail(r, "a control, space or non-ASCII byte", path);
    if (c == '?' || c == '#') fail(r, "a query or fragment delimiter", path);
  }
  for (const char *seg = path + 1;;) {
    const char *end = strchr(seg, '/');
    size_t n = end ? (size_t)(end - seg) : strlen(seg);
    if (n == 0) fail(r, "an empty segment", path);
    if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
      fail(r, "a dot segment", path);
    if (!end) break;
    seg = end + 1;
  }
}

static void check_route(const tr_provider *p, const tr_route *r, int vars) {
  int bad = 0;
  for (const char *s = strchr(r->path, '{'); s; s = strchr(s + 1, '{')) {
    const char *close = strchr(s, '}');
    lua_pushlstring(L, s + 1, (size_t)(close - s - 1));
    lua_rawget(L, vars);
    bad |= is_bad_var(-1);
    lua_pop(L, 1);
  }
  lua_getfield(L, 1, p->name);
  lua_getfield(L, -1, "route");
  lua_pushstring(L, r->op);
  lua_pushvalue(L, vars);
  if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
    int is_usage = 0;
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "kind");
      is_usage = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "usage") == 0;
      lua_pop(L, 1);
    }
    if (!is_usage)
      fail(r, "raised something other than a usage error", luaL_tolstring(L, -1, NULL));
    lua_settop(L, vars);
    return;
  }
  if (bad) fail(r, "accepted a missing, empty, dot or control-character variable",
                lua_tostring(L, -1));
  size_t len = 0;
  const char *path = lua_tolstring(L, -1, &len);
  const char *method = lua_tostring(L, -2);
  if (!path || !method) fail(r, "no method or path", NULL);
  check_path(r, method, path, len);
  lua_settop(L, vars);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  L = luaL_newstate();
  luaL_openlibs(L);
  tr_errors_init(L);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input in = { data, size };
  lua_settop(L, 0);
  luaL_requiref(L, "taskrun._provider", luaopen_taskrun_provider, 0);   /* index 1 */
  lua_createtable(L, 0, NVARS);                                          /* index 2 */
  for (size_t i = 0; i < NVARS; i++) {
    push_var(&in);
    lua_setfield(L, 2, var_names[i]);
  }
  for (int i = 0; providers[i]; i++)
    for (const tr_route *r = providers[i]->routes; r->op; r++) check_route(providers[i], r, 2);
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
