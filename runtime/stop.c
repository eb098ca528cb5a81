/* The hook that stops Lua code that never yields: see stop.h.
 *
 * A hook belongs to one coroutine, and a signal handler cannot find the one running. So every
 * resume goes through tr_resume (the scheduler's) or the replaced coroutine.resume (the
 * runbook's own coroutines), which keep the chain of coroutines now running in a plain array the
 * handler can read. The handler hooks each of them: the innermost fires first, and the ones it
 * returns to fire next. Coroutines resumed or created later get the hook too (on resume, and
 * by inheritance from their creator). */
#include "stop.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "run.h"
#include "run_end.h"
#include "sched.h"
#include "signals.h"
#include "stackcheck.h"
#include "timer.h"

/* Nested resumes are bounded by Lua's C stack (LUAI_MAXCCALLS, 200); deeper ones go
 * unrecorded, and the coroutines they return to are hooked all the same. */
#define TR_STOP_DEPTH 256
/* Instructions a coroutine may still run once asked to stop: a few milliseconds. Code about to
 * wait reaches its wait first and stops there, as any waiting task does, so the interrupt
 * message still names what it waited on; code that spins is stopped where it is. */
#define TR_STOP_BUDGET 1000000
/* How long the hook keeps raising where Lua cannot yield before it gives up (seconds). */
#define TR_STOP_PATIENCE 1.0

static lua_State *volatile running[TR_STOP_DEPTH];
static volatile sig_atomic_t depth;
static volatile sig_atomic_t state;
/* The coroutine whose hook just yielded it, for its resumer to recognise. */
static lua_State *hook_yielded;
/* When the hook first had to raise instead of yield, for its last resort. */
static double first_raise;

/* The stdlib's coroutine wrappers pass a waiting coroutine's yield up to the scheduler; stopped
 * in their middle, they would lose track of the coroutine whose <close> handlers the cancel
 * must run. Their few instructions run to the next yield or return instead. */
static const char WRAPPERS[] = "@stdlib/taskrun/coroutine.lua";

/* Ends the run at once, without <close> handlers: the last resort of stop_hook. */
static void stop_now(void) {
  int sig = tr_signals_pending();
  char msg[256];
  snprintf(msg, sizeof msg, "%s; Lua code that catches every error where it cannot yield (a "
           "pcall loop in a table.sort comparator?) was not stopped cleanly: exited without "
           "running <close> handlers", sig == SIGINT ? "interrupted by SIGINT"
           : sig ? "interrupted by SIGTERM" : "--timeout ran out");
  tr_end_report(NULL, msg);
  int code = sig ? 128 + sig : TR_EXIT_TIMEOUT;
  tr_signals_exit_now(tr_end_finish(code));
}

static void stop_hook(lua_State *L, lua_Debug *ar) {
  if (state != TR_STOP_REQUESTED) {
    lua_sethook(L, NULL, 0, 0);
    return;
  }
  if (lua_getinfo(L, "S", ar) && strcmp(ar->source, WRAPPERS) == 0) return;
  if (lua_isyieldable(L)) {
    hook_yielded = L;
    lua_yield(L, 0);   /* a hook yields with no values, and must return at once */
    return;
  }
  /* Inside a call Lua cannot yield across (a table.sort comparator, require): unwind out of it.
   * The hook stays set, so a pcall that catches this is stopped again a budget later. Code
   * that keeps catching it there for a second (a pcall loop in a comparator) cannot be
   * stopped cleanly: end the run as a second signal would. */
  double now = tr_now();
  if (first_raise == 0) first_raise = now;
  if (now - first_raise > TR_STOP_PATIENCE) stop_now();
  tr_stop_push_error(L);
  lua_error(L);
}

static void hook(lua_State *co) {
  lua_sethook(co, stop_hook, LUA_MASKCOUNT, TR_STOP_BUDGET);
}

void tr_stop_request(void) {
  if (state != TR_STOP_NONE) return;
  state = TR_STOP_REQUESTED;
  int n = depth < TR_STOP_DEPTH ? depth : TR_STOP_DEPTH;
  for (int i = 0; i < n; i++) hook(running[i]);
}

tr_stop_state tr_stop_state_now(void) { return (tr_stop_state)state; }

void tr_stop_handled(void) { state = TR_STOP_HANDLED; }

/* Records co as running; returns the depth to restore afterwards. */
static int enter(lua_State *co) {
  int base = depth;
  if (base < TR_STOP_DEPTH) running[base] = co;
  depth = base + 1;
  /* After the store: a signal between the two is seen here, or saw co in the array. */
  if (state == TR_STOP_REQUESTED) hook(co);
  return base;
}

int tr_resume(lua_State *co, lua_State *from, int nargs, int *nres) {
  hook_yielded = NULL;
  int base = enter(co);
  int status = lua_resume(co, from, nargs, nres);
  depth = base;
  if (status == LUA_YIELD && hook_yielded == co) {
    hook_yielded = NULL;
    lua_pushlightuserdata(co, TR_SENTINEL);
    *nres = 1;
  }
  return status;
}

void tr_stop_push_error(lua_State *L) {
  TR_STACK_BEGIN(L);
  int sig = tr_signals_pending();
  if (sig) tr_push_error(L, "cancelled", "stopped by %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
  else tr_push_error(L, "cancelled", "stopped: --timeout ran out");
  TR_STACK_END(L, 0, 1);
}

/* coroutine.resume(co, ...): [-n, +r] Lua's own, with co recorded as running while it runs:
 * true and what co yielded or returned, or false and its error. A coroutine stopped by the
 * hook returns true and the scheduler's sentinel, which the stdlib's wrapper passes up to the
 * scheduler as it does for a coroutine that waits. */
static int co_resume(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTHREAD);
  lua_State *co = lua_tothread(L, 1);
  int narg = lua_gettop(L) - 1, nres;
  if (!lua_checkstack(co, narg)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many arguments to resume");
    return 2;
  }
  lua_xmove(L, co, narg);
  hook_yielded = NULL;
  int base = enter(co);
  int status = lua_resume(co, L, narg, &nres);
  depth = base;
  if (status != LUA_OK && status != LUA_YIELD) {
    /* Moved first, then false put under it: co may be L itself (resuming the running one). */
    lua_xmove(co, L, 1);
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  if (!lua_checkstack(L, nres + 2)) {
    lua_pop(co, nres);
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many results to resume");
    return 2;
  }
  lua_xmove(co, L, nres);
  lua_pushboolean(L, 1);
  lua_insert(L, -(nres + 1));
  if (status == LUA_YIELD && hook_yielded == co) {
    hook_yielded = NULL;
    lua_pushlightuserdata(L, TR_SENTINEL);
    nres++;
  }
  return nres + 1;
}

void tr_stop_install(lua_State *L) {
  TR_STACK_BEGIN(L);
  lua_getglobal(L, "coroutine");
  lua_pushcfunction(L, co_resume);
  lua_setfield(L, -2, "resume");
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
}
