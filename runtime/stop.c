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
#include <string.h>

#include "errors.h"
#include "sched.h"
#include "signals.h"
#include "stackcheck.h"

/* Nested resumes are bounded by Lua's C stack (LUAI_MAXCCALLS, 200); deeper ones go
 * unrecorded, and the coroutines they return to are hooked all the same. */
#define TR_STOP_DEPTH 256

static lua_State *volatile running[TR_STOP_DEPTH];
static volatile sig_atomic_t depth;
static volatile sig_atomic_t state;
/* The coroutine whose hook just yielded it, for its resumer to recognise. */
static lua_State *hook_yielded;

/* The stdlib's coroutine wrappers pass a waiting coroutine's yield up to the scheduler; stopped
 * in their middle, they would lose track of the coroutine whose <close> handlers the cancel
 * must run. Their few instructions run to the next yield or return instead. */
static const char WRAPPERS[] = "@stdlib/taskrun/coroutine.lua";

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
   * The hook stays set, so a pcall that catches this only stops at the next instruction. */
  tr_stop_push_error(L);
  lua_error(L);
}

static void hook(lua_State *co) {
  lua_sethook(co, stop_hook, LUA_MASKCOUNT, 1);
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

/* coroutine.resume(co, ...): [-n, +r] the raw resume (upvalue 1), with co recorded as running.
 * A coroutine stopped by the hook returns true and the scheduler's sentinel, which the stdlib's
 * wrapper passes up to the scheduler as it does for a coroutine that waits. */
static int co_resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co != NULL, 1, "coroutine");
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  hook_yielded = NULL;
  int base = enter(co);
  /* The raw resume reports the coroutine's errors as results; it raises only for memory. */
  lua_call(L, n, LUA_MULTRET);
  depth = base;
  if (hook_yielded == co) {
    hook_yielded = NULL;
    lua_pushlightuserdata(L, TR_SENTINEL);
  }
  return lua_gettop(L);
}

void tr_stop_install(lua_State *L) {
  TR_STACK_BEGIN(L);
  lua_getglobal(L, "coroutine");
  lua_getfield(L, -1, "resume");
  lua_pushcclosure(L, co_resume, 1);
  lua_setfield(L, -2, "resume");
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
}
