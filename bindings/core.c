/* taskrun._core: the primitives under the `taskrun` module (stdlib/taskrun/init.lua). */
#include <lauxlib.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bindings.h"
#include "duration.h"
#include "errors.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sched.h"
#include "secrets.h"
#include "stackcheck.h"
#include "status.h"
#include "timer.h"

/* ---- sleep ---- */

typedef struct {
  tr_op op;
  tr_timer timer;
} sleep_op;

#define SLEEP_MT "taskrun.sleep_op"

static void sleep_fire(tr_timer *t) {
  sleep_op *s = (sleep_op *)((char *)t - offsetof(sleep_op, timer));
  tr_op_complete(&s->op);
}

static void sleep_cancel(tr_op *op) {
  tr_loop_disarm(&((sleep_op *)op)->timer);
}

/* A sleep collected while armed (its task was reset) must leave the heap first. */
static int sleep_gc(lua_State *L) {
  tr_loop_disarm(&((sleep_op *)lua_touserdata(L, 1))->timer);
  return 0;
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  return 0;
}

/* taskrun.sleep(d): [-1, +0, e] waits d (seconds or "250ms"...) without blocking other tasks. */
static int l_sleep(lua_State *L) {
  double d = tr_check_duration(L, 1, "taskrun.sleep");
  sleep_op *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, SLEEP_MT);
  s->op.cancel = sleep_cancel;
  tr_timer_init(&s->timer, sleep_fire);
  /* Arm only once tr_await can no longer refuse: it raises before yielding, not after. */
  if (tr_sched_can_wait(L)) tr_loop_arm(&s->timer, tr_now() + d);
  return tr_await(L, &s->op, "taskrun.sleep", 0, sleep_k);
}

/* taskrun.yield(): [-0, +0, e] lets every other ready task run once. */
static int l_yield(lua_State *L) {
  if (!lua_isyieldable(L)) return tr_raise(L, "usage", "cannot yield here");
  lua_pushlightuserdata(L, TR_SENTINEL);
  return lua_yield(L, 1);
}

/* taskrun.now(): [-0, +1] monotonic seconds; only differences mean anything. */
static int l_now(lua_State *L) {
  lua_pushnumber(L, tr_now());
  return 1;
}

/* taskrun.spawn(fn, ...): [-n, +1] starts fn(...) as a new task and returns its handle. */
static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  tr_sched_spawn(L, lua_gettop(L) - 1);
  return 1;
}

/* taskrun.duration(d): [-1, +1, e] d in seconds, or a "usage" error. */
static int l_duration(lua_State *L) {
  lua_pushnumber(L, tr_check_duration(L, 1, "taskrun.duration"));
  return 1;
}

/* ---- log ---- */

static int is_secret_key(const char *k) {
  static const char *const words[] = { "token", "secret", "password", "authorization", NULL };
  char low[64];
  size_t i = 0;
  for (; k[i] && i < sizeof low - 1; i++) low[i] = (char)(k[i] | 0x20);
  low[i] = '\0';
  for (int w = 0; words[w]; w++)
    if (strstr(low, words[w])) return 1;
  return 0;
}

/* "nan", "inf" or "-inf" for such a float at idx (Lua would write "-nan" or "nan" by the
 * platform's whim), NULL for anything else. */
static const char *non_finite(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TNUMBER || lua_isinteger(L, idx)) return NULL;
  lua_Number v = lua_tonumber(L, idx);
  return isnan(v) ? "nan" : isinf(v) ? (v > 0 ? "inf" : "-inf") : NULL;
}

static int compare_keys(const void *a, const void *b) {
  return strcmp(((const tr_log_field *)a)->key, ((const tr_log_field *)b)->key);
}

/* log(level, msg, fields): fields' string keys in order, scalars as they are, secrets masked. */
static int log_at(lua_State *L, tr_log_level level) {
  tr_log_field fields[32];
  size_t n = 0;
  if (!tr_log_enabled(level)) return 0;
  const char *msg = luaL_tolstring(L, 1, NULL);
  if (lua_istable(L, 2)) {
    lua_newtable(L);   /* holds the value strings until the line is written */
    int hold = lua_gettop(L);
    lua_pushnil(L);
    while (n < 32 && lua_next(L, 2)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        tr_log_field *f = &fields[n++];
        int t = lua_type(L, -1);
        f->key = lua_tostring(L, -2);
        f->is_string = !(t == LUA_TNUMBER || t == LUA_TBOOLEAN);
        if (is_secret_key(f->key)) {
          f->value = "[REDACTED]";
          f->is_string = 1;
        } else if ((f->value = non_finite(L, -1))) {
          f->is_string = 1;   /* JSON has no NaN nor infinity: a string keeps the line valid */
        } else {
          f->value = luaL_tolstring(L, -1, NULL);
          lua_rawseti(L, hold, (lua_Integer)n);
        }
      }
      lua_pop(L, 1);
    }
  }
  qsort(fields, n, sizeof fields[0], compare_keys);
  tr_log(level, msg, fields, n);
  return 0;
}

static int l_debug(lua_State *L) { return log_at(L, TR_LOG_DEBUG); }
static int l_info(lua_State *L) { return log_at(L, TR_LOG_INFO); }
static int l_warn(lua_State *L) { return log_at(L, TR_LOG_WARN); }
static int l_error(lua_State *L) { return log_at(L, TR_LOG_ERROR); }

static int l_log_enabled(lua_State *L) {
  int level = tr_log_parse_level(luaL_checkstring(L, 1));
  lua_pushboolean(L, level >= 0 && tr_log_enabled((tr_log_level)level));
  return 1;
}

/* Random bytes for taskrun.uuid, had from the kernel 256 at a time: Keycard sends a request
 * id with every request, and a getrandom call each was a system call per poll. Returns 0, or
 * -1 when there is no randomness. */
static int random_bytes(unsigned char *out, size_t n) {
  static unsigned char pool[256];
  static size_t left = 0;
  if (left < n) {
    if (getrandom(pool, sizeof pool, 0) != (ssize_t)sizeof pool) return -1;
    left = sizeof pool;
  }
  memcpy(out, pool + sizeof pool - left, n);
  memset(pool + sizeof pool - left, 0, n);   /* a byte handed out is not kept */
  left -= n;
  return 0;
}

/* taskrun.uuid(): [-0, +1] a random (version 4) UUID, e.g. for request ids. */
static int l_uuid(lua_State *L) {
  unsigned char b[16];
  if (random_bytes(b, sizeof b) != 0) return luaL_error(L, "uuid: no randomness");
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  static const char hex[] = "0123456789abcdef";
  char text[36];
  size_t n = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text[n++] = '-';
    text[n++] = hex[b[i] >> 4];
    text[n++] = hex[b[i] & 0x0f];
  }
  lua_pushlstring(L, text, sizeof text);
  return 1;
}

/* taskrun.secret(s): [-1, +1, e] registers s (any length, NULs included) for redaction from
 * every output and returns it. */
static int l_secret(lua_State *L) {
  lua_settop(L, 1);   /* more arguments are ignored, as by any Lua function */
  TR_STACK_BEGIN(L);
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  tr_secret_add(s, len);
  TR_STACK_END(L, 1, 1);
  return 1;
}

/* taskrun._core.on_interrupt(fn): [-1, +0] fn() returns what the run was doing (e.g. "waiting on
 * bluexp task 7 (IN_PROGRESS, 2m)") for the message a signal or --timeout prints. */
static int l_on_interrupt(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, TR_INTERRUPT_HOOK);
  return 0;
}

/* taskrun._core.isatty(fd): [-1, +1] whether fd (2 = stderr) is a terminal. */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* ---- the live status block (runtime/status.c) ---- */

/* taskrun._core.term_size(): [-0, +2] rows and columns of stderr's terminal (24, 80 when
 * unknown). */
static int l_term_size(lua_State *L) {
  int rows, cols;
  tr_status_term_size(&rows, &cols);
  lua_pushinteger(L, rows);
  lua_pushinteger(L, cols);
  return 2;
}

/* taskrun._core.status(lines): [-1, +0, e] shows the list of strings as the live block at the
 * bottom of stderr, or erases the block given nil or {}. Nothing happens when it is not live. */
static int l_status(lua_State *L) {
  const char *lines[256];
  size_t n = 0;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer len = luaL_len(L, 1);
    /* The strings stay alive in the caller's table until tr_status_set has copied them. */
    for (lua_Integer i = 1; i <= len && n < sizeof lines / sizeof lines[0]; i++) {
      if (lua_rawgeti(L, 1, i) != LUA_TSTRING)
        return luaL_error(L, "status: line %d is not a string", (int)i);
      lines[n++] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
  }
  tr_status_set(lines, n);
  return 0;
}

/* taskrun._core.status_hide(), status_show(): [-0, +0] take the block off the screen and put
 * it back, around a write to a stdout that shares the terminal. */
static int l_status_hide(lua_State *L) {
  tr_status_hide();
  return 0;
}

static int l_status_show(lua_State *L) {
  tr_status_show();
  return 0;
}

/* taskrun._core.count(what, provider, outcome): [-3, +0, e] one more wait ended ("waits") or
 * request answered ("requests") for --metrics-file; nothing when it is not given (the stdlib
 * asks core.counting first, so a run without it pays nothing per request). */
static int l_count(lua_State *L) {
  const char *what = luaL_checkstring(L, 1);
  tr_metrics_count(strcmp(what, "waits") == 0 ? TR_METRIC_WAITS : TR_METRIC_REQUESTS,
                   luaL_checkstring(L, 2), luaL_checkstring(L, 3));
  return 0;
}

int luaopen_taskrun_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    { "sleep", l_sleep }, { "yield", l_yield }, { "now", l_now }, { "spawn", l_spawn },
    { "duration", l_duration }, { "error", tr_error_new_lua }, { "secret", l_secret },
    { "uuid", l_uuid }, { "on_interrupt", l_on_interrupt }, { "isatty", l_isatty },
    { "term_size", l_term_size }, { "status", l_status }, { "status_hide", l_status_hide },
    { "status_show", l_status_show }, { "count", l_count }, { NULL, NULL }
  };
  static const luaL_Reg log_funcs[] = {
    { "debug", l_debug }, { "info", l_info }, { "warn", l_warn }, { "error", l_error },
    { "enabled", l_log_enabled }, { NULL, NULL }
  };
  luaL_newmetatable(L, SLEEP_MT);
  lua_pushcfunction(L, sleep_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  luaL_newlib(L, log_funcs);
  lua_setfield(L, -2, "log");
  lua_pushliteral(L, TR_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, tr_log_is_json() ? "json" : "text");
  lua_setfield(L, -2, "log_format");
  lua_pushboolean(L, tr_status_live());
  lua_setfield(L, -2, "status_live");
  lua_pushboolean(L, tr_log_color());
  lua_setfield(L, -2, "color");
  lua_pushboolean(L, tr_metrics_on());
  lua_setfield(L, -2, "counting");
  return 1;
}
