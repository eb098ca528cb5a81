/* Builds the Lua state a runbook runs in. The standard package.path and cpath are kept, so
 * Debian's Lua modules load; the taskrun.* modules come from the binary itself, found by a
 * searcher placed before the path searchers. */
#include "host.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"
#include "log.h"
#include "output.h"
#include "proc.h"
#include "sched.h"
#include "stdlib_embed.h"
#include "stop.h"

/* ---- memory: Lua's allocator, counting, with an optional limit ---- */

static struct {
  size_t used, limit;      /* bytes the Lua state holds; the most it may hold (0: no limit) */
} mem;

/* As lauxlib's own allocator, but growing past the limit fails: Lua then collects garbage and
 * tries again, and raises "not enough memory" only when that does not help. */
static void *alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  size_t old = ptr ? osize : 0;   /* without ptr, osize tells the type of the new object */
  if (nsize == 0) {
    free(ptr);
    mem.used -= old;
    return NULL;
  }
  if (mem.limit && nsize > old && (mem.used >= mem.limit || nsize - old > mem.limit - mem.used))
    return NULL;
  void *p = realloc(ptr, nsize);
  if (p) mem.used = mem.used - old + nsize;
  return p;
}

void tr_host_memory_limit(size_t bytes) {
  mem.limit = bytes;
}

int tr_host_parse_size(const char *text, size_t *bytes) {
  char *end;
  errno = 0;
  if (!text || *text < '0' || *text > '9') return -1;
  unsigned long long n = strtoull(text, &end, 10);
  unsigned shift = 0;
  switch (*end) {
  case 'k': case 'K': shift = 10; end++; break;
  case 'm': case 'M': shift = 20; end++; break;
  case 'g': case 'G': shift = 30; end++; break;
  default: break;
  }
  if (*end == 'B' || *end == 'b') end++;
  if (errno || *end != '\0' || n > (SIZE_MAX >> shift)) return -1;
  *bytes = (size_t)(n << shift);
  return 0;
}

/* Lua calls this on an error outside any protected call, then aborts. run.c protects the whole
 * run, so getting here is a bug in taskrun: say so plainly. */
static int panic(lua_State *L) {
  const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error object is not "
                    "a string";
  fprintf(stderr, "taskrun: PANIC: unprotected error in call to Lua API (%s)\n", msg);
  return 0;
}

/* Lua's warnings (errors in __gc among them) would otherwise vanish: log them. */
static void on_warning(void *ud, const char *msg, int tocont) {
  static char line[1024];
  static size_t used;
  if (!tocont && used == 0 && msg[0] == '@') return;  /* control messages: "@on", "@off" */
  size_t n = strlen(msg);
  if (n > sizeof line - 1 - used) n = sizeof line - 1 - used;
  memcpy(line + used, msg, n);
  used += n;
  line[used] = '\0';
  if (tocont) return;
  tr_log(TR_LOG_WARN, line, NULL, 0);
  used = 0;
}

static int search_embedded(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (const tr_embedded_module *m = tr_stdlib_modules; m->name; m++) {
    if (strcmp(m->name, name) != 0) continue;
    if (luaL_loadbuffer(L, m->data, m->len, m->chunkname) != LUA_OK) return lua_error(L);
    lua_pushstring(L, m->chunkname + 1);
    return 2;
  }
  lua_pushfstring(L, "\n\tno module '%s' in taskrun's embedded stdlib", name);
  return 1;
}

static void install_searcher(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  /* Shift searchers 2..n up one place and put ours second, right after package.preload. */
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = n; i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, search_embedded);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}

static void preload(lua_State *L, const char *name, lua_CFunction open) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

static int abandon_current_op(lua_State *L) {
  tr_sched_abandon_current_op();
  return 0;
}

/* The runbook's own coroutine.resume/wrap must pass the scheduler's yields up: see
 * stdlib/taskrun/coroutine.lua. It returns the function that closes a cancelled task's chain. */
static void install_coroutine_wrappers(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "taskrun.coroutine");
  lua_call(L, 1, 1);
  lua_pushlightuserdata(L, TR_SENTINEL);
  lua_pushcfunction(L, abandon_current_op);
  lua_pushcfunction(L, tr_sched_task_id_lua);
  lua_pushcfunction(L, tr_error_new_lua);
  lua_call(L, 4, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "taskrun.close_chain");
}

static void set_args(lua_State *L, const char *argv0, const char *script, char **args, int n) {
  lua_createtable(L, n, 2);
  lua_pushstring(L, argv0);
  lua_rawseti(L, -2, -1);
  lua_pushstring(L, script);
  lua_rawseti(L, -2, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, args[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setglobal(L, "arg");
  /* taskrun.args: the same arguments as a plain sequence. */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "taskrun");
  lua_call(L, 1, 1);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, args[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "args");
  lua_setglobal(L, "taskrun");
}

static int setup(lua_State *L) {
  const char *argv0 = lua_touserdata(L, 1);
  const char *script = lua_touserdata(L, 2);
  char **args = lua_touserdata(L, 3);
  int nargs = (int)lua_tointeger(L, 4);
  luaL_openlibs(L);
  tr_output_install(L);
  tr_errors_init(L);
  tr_sched_init(L);
  install_searcher(L);
  preload(L, "taskrun._core", luaopen_taskrun_core);
  preload(L, "taskrun._http", luaopen_taskrun_http);
  preload(L, "taskrun.json", luaopen_taskrun_json);
  preload(L, "taskrun._provider", luaopen_taskrun_provider);
  preload(L, "taskrun._journal", luaopen_taskrun_journal);
  tr_proc_install(L);
  tr_stop_install(L);   /* before the wrappers capture coroutine.resume */
  install_coroutine_wrappers(L);
  set_args(L, argv0, script, args, nargs);
  return 0;
}

/* The collector's settings (collectgarbage("incremental", PAUSE, STEPMUL)). Lua's defaults,
 * 200 and 100, let the heap reach twice what was live after a cycle before the next one starts,
 * and the cycle runs slowly against a fast allocator. 150 and 400 start a cycle at 1.5 times
 * the live heap and finish it sooner: 10,000 concurrent waits (bench/fanout.lua) peak at about
 * 60 MiB of RSS instead of 80 (pause 200), their CPU the same within a small VM's noise; 1%
 * more instructions per sequential poll. Lower pauses cost far more (120: +8% instructions;
 * 100: collecting without pause, 25 times the CPU). A runbook may set its own with
 * collectgarbage. */
#define GC_PAUSE 150
#define GC_STEPMUL 400

lua_State *tr_host_new(const char *argv0, const char *script, char **args, int nargs) {
  lua_State *L = lua_newstate(alloc, NULL);
  if (!L) return NULL;
  lua_gc(L, LUA_GCINC, GC_PAUSE, GC_STEPMUL, 0);
  lua_atpanic(L, panic);
  lua_setwarnf(L, on_warning, NULL);
  lua_pushcfunction(L, setup);
  lua_pushlightuserdata(L, (void *)argv0);
  lua_pushlightuserdata(L, (void *)script);
  lua_pushlightuserdata(L, args);
  lua_pushinteger(L, nargs);
  if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
    tr_log_report(lua_tostring(L, -1), NULL);
    lua_close(L);
    return NULL;
  }
  return L;
}
