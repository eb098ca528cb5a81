/* Tasks: coroutines pinned in the registry, a FIFO ready queue, join and cancel.
 *
 * A task's handle is a full userdata (struct tr_task) whose first user value is its thread and
 * whose second is its outcome: { n = N, results... } or { err = value, traceback = string }.
 * While a task is unfinished, the registry table "live" maps its address to its handle, so
 * neither is collected while only the loop knows about it. */
#include "sched.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "stop.h"

char tr_wait_sentinel;

typedef struct tr_join tr_join;

struct tr_task {
  lua_State *co;
  int id;
  tr_task_state state;
  int nargs;               /* arguments waiting on the stack for the first resume */
  int queued;              /* in the ready queue */
  int joined;              /* somebody took (or waits for) its outcome */
  int reported;            /* its failure was printed because nobody was joining */
  tr_op *op;               /* what it waits on */
  tr_task *next_ready;
  tr_join *joiners;        /* tasks waiting in h:join() */
};

/* A task waiting for another task to finish. */
struct tr_join {
  tr_op op;
  tr_task *target;
  tr_join *prev, *next;
};

static struct {
  lua_State *L;
  tr_task *head, *tail;
  tr_task *current;
  tr_task *main;
  int live, next_id, unjoined_failures;
} S;

static const char LIVE_KEY[] = "taskrun.live";
static const char CHAIN_KEY[] = "taskrun.close_chain";
static const char MAIN_KEY[] = "taskrun.main";
#define TASK_MT "taskrun.task"

static const char *const state_names[] = {
  "ready", "running", "waiting", "done", "failed", "cancelled"
};

/* ---- the ready queue ---- */

static void ready_push(tr_task *t) {
  if (t->queued) return;
  t->queued = 1;
  t->state = TR_TASK_READY;
  t->next_ready = NULL;
  if (S.tail) S.tail->next_ready = t;
  else S.head = t;
  S.tail = t;
}

static tr_task *ready_pop(void) {
  tr_task *t = S.head;
  if (!t) return NULL;
  S.head = t->next_ready;
  if (!S.head) S.tail = NULL;
  t->queued = 0;
  return t;
}

int tr_sched_has_ready(void) { return S.head != NULL; }
int tr_sched_live(void) { return S.live; }
int tr_sched_unjoined_failures(void) { return S.unjoined_failures; }

/* ---- the registry pin ---- */

static void push_live_table(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LIVE_KEY);
}

/* [-0, +1] The handle of an unfinished task (from the live table). */
static void push_handle(lua_State *L, tr_task *t) {
  push_live_table(L);
  lua_rawgetp(L, -1, t);
  lua_remove(L, -2);
}

static void unpin(lua_State *L, tr_task *t) {
  push_live_table(L);
  lua_pushnil(L);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
  S.live--;
}

/* ---- spawning ---- */

tr_task *tr_sched_spawn(lua_State *L, int nargs) {
  int fn = lua_gettop(L) - nargs;
  tr_task *t = lua_newuserdatauv(L, sizeof *t, 2);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, TASK_MT);
  t->co = lua_newthread(L);
  lua_setiuservalue(L, -2, 1);
  t->id = ++S.next_id;
  t->nargs = nargs;
  /* Move the function and its arguments onto the new thread, keeping the handle on top. */
  lua_insert(L, fn);
  lua_xmove(L, t->co, nargs + 1);
  lua_pushvalue(L, -1);
  push_live_table(L);
  lua_insert(L, -2);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
  S.live++;
  if (!S.main) {
    S.main = t;
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, MAIN_KEY);
  }
  ready_push(t);
  return t;
}

/* ---- waiting ---- */

/* The innermost C function on L's stack: the call Lua cannot yield across. */
static const char *blocking_call(lua_State *L) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sn", &ar);
    if (ar.name && strcmp(ar.name, "__gc") == 0) return "__gc";
    if (*ar.what == 'C') return ar.name ? ar.name : "a C function";
  }
  return "a metamethod or __gc";
}

int tr_await(lua_State *L, tr_op *op, const char *what, lua_KContext ctx, lua_KFunction k) {
  if (!S.current)
    return tr_raise(L, "usage", "cannot wait here: %s was called while no task runs "
                    "(in a __gc or <close> handler during shutdown or cancel)", what);
  if (!lua_isyieldable(L)) {
    const char *where = blocking_call(L);
    /* Lua reports errors in __gc as warnings, and only string ones keep their text. */
    if (strcmp(where, "__gc") == 0)
      return luaL_error(L, "cannot wait here: %s was called in a __gc metamethod", what);
    return tr_raise(L, "usage", "cannot wait here: %s was called inside '%s', which Lua cannot "
                    "yield across (e.g. a table.sort comparator, a string.gsub callback, __gc); "
                    "move the wait out of it", what, where);
  }
  op->task = S.current;
  S.current->op = op;
  lua_pushlightuserdata(L, TR_SENTINEL);
  return lua_yieldk(L, 1, ctx, k);
}

int tr_sched_can_wait(lua_State *L) {
  return S.current != NULL && lua_isyieldable(L);
}

void tr_op_complete(tr_op *op) {
  tr_task *t = op->task;
  if (!t || t->op != op) return;
  t->op = NULL;
  ready_push(t);
}

void tr_sched_abandon_current_op(void) {
  tr_task *t = S.current;
  if (t && t->op) {
    tr_op *op = t->op;
    t->op = NULL;
    op->cancel(op);
  }
}

/* ---- finishing ---- */

static void wake_joiners(tr_task *t) {
  for (tr_join *j = t->joiners; j; j = j->next) {
    j->target = NULL;
    tr_op_complete(&j->op);
  }
  t->joiners = NULL;
}

/* [-1, +0] Stores the table on the top of S.L as the task's outcome. */
static void set_outcome(tr_task *t) {
  lua_State *L = S.L;
  push_handle(L, t);
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, 2);
  lua_pop(L, 1);
}

/* Runs the <close> handlers still pending on a finished, failed or cancelled task, first in any
 * coroutines of its own that were waiting inside it. A failing handler is reported, not lost.
 * `err` is the index on S.L of the error that killed the task, or 0. */
static void close_thread(tr_task *t, int err) {
  lua_State *L = S.L;
  tr_task *was = S.current;
  S.current = NULL;   /* handlers may not wait: the task is going away */
  lua_getfield(L, LUA_REGISTRYINDEX, CHAIN_KEY);
  if (lua_isfunction(L, -1)) {
    lua_pushthread(t->co);
    lua_xmove(t->co, L, 1);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      tr_logf(TR_LOG_WARN, "task %d: a <close> handler failed: %s", t->id, lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  } else {
    lua_pop(L, 1);
  }
  /* After an error, resetthread reports that same error again unless a handler raised anew. */
  if (lua_resetthread(t->co) != LUA_OK) {
    lua_xmove(t->co, L, 1);
    if (!err || !lua_rawequal(L, -1, err)) {
      tr_logf(TR_LOG_WARN, "task %d: a <close> handler failed: %s", t->id, tr_error_text(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  S.current = was;
}

static void finish_ok(tr_task *t, int nres) {
  lua_State *L = S.L;
  luaL_checkstack(L, nres + 4, "too many results");
  lua_createtable(L, nres, 1);
  lua_xmove(t->co, L, nres);
  for (int i = nres; i >= 1; i--) lua_rawseti(L, -1 - i, i);
  lua_pushinteger(L, nres);
  lua_setfield(L, -2, "n");
  set_outcome(t);
  t->state = TR_TASK_DONE;
  close_thread(t, 0);
  unpin(L, t);
  wake_joiners(t);
}

static void report_failure(tr_task *t, lua_State *L, int outcome) {
  char head[64];
  lua_getfield(L, outcome, "err");
  const char *msg = tr_error_text(L, -1);
  lua_getfield(L, outcome, "traceback");
  snprintf(head, sizeof head, "task %d failed: ", t->id);
  lua_pushstring(L, head);
  lua_pushstring(L, msg);
  lua_concat(L, 2);
  tr_log_report(lua_tostring(L, -1), lua_tostring(L, -2));
  lua_pop(L, 4);
}

/* The error value is on the top of t->co. */
static void finish_failed(tr_task *t) {
  lua_State *L = S.L;
  lua_createtable(L, 0, 2);
  luaL_traceback(L, t->co, NULL, 0);
  lua_setfield(L, -2, "traceback");
  /* A copy: the error stays on the thread, where resetthread hands it to <close> handlers. */
  lua_pushvalue(t->co, -1);
  lua_xmove(t->co, L, 1);
  lua_setfield(L, -2, "err");
  if (!t->joiners && t != S.main) {
    report_failure(t, L, lua_gettop(L));
    t->reported = 1;
    S.unjoined_failures++;
  }
  lua_getfield(L, -1, "err");
  lua_insert(L, -2);
  set_outcome(t);
  t->state = TR_TASK_FAILED;
  close_thread(t, lua_gettop(L));
  lua_pop(L, 1);
  unpin(L, t);
  wake_joiners(t);
}

static void resume(tr_task *t) {
  lua_State *co = t->co;
  int nres, nargs = t->nargs;
  t->nargs = 0;
  t->state = TR_TASK_RUNNING;
  S.current = t;
  int status = tr_resume(co, S.L, nargs, &nres);
  S.current = NULL;
  if (status == LUA_YIELD) {
    if (nres == 1 && lua_touserdata(co, -1) == TR_SENTINEL) {
      lua_pop(co, 1);
      if (t->op) t->state = TR_TASK_WAITING;
      else ready_push(t);    /* a plain yield to the other tasks */
      return;
    }
    lua_pop(co, nres);
    tr_push_error(co, "usage", "coroutine.yield was called outside any coroutine of the runbook "
                  "(at the top level of task %d); use taskrun.spawn for concurrency", t->id);
    status = LUA_ERRRUN;
  }
  if (status == LUA_OK) finish_ok(t, nres);
  else finish_failed(t);
}

void tr_sched_run_ready(void) {
  /* Only the tasks ready now: a task that keeps yielding must not starve the loop. */
  tr_task *last = S.tail;
  tr_task *t;
  while (last && (t = ready_pop())) {
    int was_last = (t == last);
    if (t->state == TR_TASK_READY) resume(t);
    if (was_last) break;
  }
}

/* ---- cancelling ---- */

static void cancel_task(tr_task *t) {
  if (t->state >= TR_TASK_DONE) return;
  if (t->op) {
    tr_op *op = t->op;
    t->op = NULL;
    op->cancel(op);
  }
  lua_State *L = S.L;
  lua_createtable(L, 0, 1);
  tr_push_error(L, "cancelled", "task %d was cancelled", t->id);
  lua_setfield(L, -2, "err");
  set_outcome(t);
  t->state = TR_TASK_CANCELLED;
  t->queued = 0;      /* a queued entry is skipped: ready_pop sees a finished state */
  close_thread(t, 0);
  unpin(L, t);
  wake_joiners(t);
}

int tr_sched_cancel_all(void) {
  int n = 0;
  lua_State *L = S.L;
  /* Collect first: cancelling runs <close> handlers, which may change the live table. */
  push_live_table(L);
  lua_newtable(L);
  int i = 0;
  lua_pushnil(L);
  while (lua_next(L, -3)) {
    lua_rawseti(L, -3, ++i);
  }
  for (int k = 1; k <= i; k++) {
    lua_rawgeti(L, -1, k);
    tr_task *t = luaL_testudata(L, -1, TASK_MT);
    if (t && t->state < TR_TASK_DONE) { cancel_task(t); n++; }
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  S.head = S.tail = NULL;
  return n;
}

/* ---- the main task's outcome ---- */

tr_task_state tr_sched_main_state(void) {
  return S.main ? S.main->state : TR_TASK_READY;
}

void tr_sched_push_main_error(lua_State *L, const char **traceback) {
  lua_getfield(L, LUA_REGISTRYINDEX, MAIN_KEY);
  lua_getiuservalue(L, -1, 2);
  lua_remove(L, -2);
  lua_getfield(L, -1, "traceback");
  *traceback = lua_tostring(L, -1);
  lua_pop(L, 1);      /* the string stays alive in the outcome table */
  lua_getfield(L, -1, "err");
  lua_remove(L, -2);
}

/* ---- the task handle: h:join(), h:cancel(), h:status(), h.id ---- */

static tr_task *check_task(lua_State *L) {
  return luaL_checkudata(L, 1, TASK_MT);
}

/* [-0, +n] The results of a finished task, or raises its error with its own traceback. */
static int push_outcome(lua_State *L, tr_task *t) {
  lua_getiuservalue(L, 1, 2);
  int outcome = lua_gettop(L);
  if (t->state == TR_TASK_DONE) {
    lua_getfield(L, outcome, "n");
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, n, "too many results");
    for (int i = 1; i <= n; i++) lua_rawgeti(L, outcome, i);
    return n;
  }
  lua_getfield(L, outcome, "err");
  lua_getfield(L, outcome, "traceback");
  if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1)) {
    /* A string error carries the failed task's traceback in its text. */
    lua_pushfstring(L, "%s\n(in task %d) %s", lua_tostring(L, -2), t->id, lua_tostring(L, -1));
    return lua_error(L);
  }
  if (lua_type(L, -2) == LUA_TTABLE && lua_isstring(L, -1)) {
    lua_getfield(L, -2, "traceback");
    int has = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (!has) lua_setfield(L, -2, "traceback");
    else lua_pop(L, 1);
  } else {
    lua_pop(L, 1);
  }
  return lua_error(L);
}

static void note_joined(tr_task *t) {
  if (t->joined) return;
  t->joined = 1;
  if (t->reported) S.unjoined_failures--;
}

static void cancel_join(tr_op *op) {
  tr_join *j = (tr_join *)op;
  if (!j->target) return;
  if (j->prev) j->prev->next = j->next;
  else j->target->joiners = j->next;
  if (j->next) j->next->prev = j->prev;
  j->target = NULL;
}

static int join_k(lua_State *L, int status, lua_KContext ctx) {
  tr_task *t = check_task(L);
  lua_settop(L, 1);
  return push_outcome(L, t);
}

static int task_join(lua_State *L) {
  tr_task *t = check_task(L);
  note_joined(t);
  if (t->state >= TR_TASK_DONE) {
    lua_settop(L, 1);
    return push_outcome(L, t);
  }
  if (t == S.current)
    return tr_raise(L, "usage", "task %d cannot join itself", t->id);
  tr_join *j = lua_newuserdatauv(L, sizeof *j, 0);
  memset(j, 0, sizeof *j);
  j->op.cancel = cancel_join;
  j->target = t;
  j->next = t->joiners;
  if (t->joiners) t->joiners->prev = j;
  t->joiners = j;
  return tr_await(L, &j->op, "join", 0, join_k);
}

static int task_cancel(lua_State *L) {
  tr_task *t = check_task(L);
  if (t == S.current)
    return tr_raise(L, "usage", "task %d cannot cancel itself; return from it instead", t->id);
  int was_running = t->state < TR_TASK_DONE;
  tr_task *me = S.current;
  cancel_task(t);
  S.current = me;
  lua_pushboolean(L, was_running);
  return 1;
}

static int task_status(lua_State *L) {
  lua_pushstring(L, state_names[check_task(L)->state]);
  return 1;
}

static int task_tostring(lua_State *L) {
  tr_task *t = check_task(L);
  lua_pushfstring(L, "task %d (%s)", t->id, state_names[t->state]);
  return 1;
}

static int task_index(lua_State *L) {
  tr_task *t = check_task(L);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "id") == 0) {
    lua_pushinteger(L, t->id);
    return 1;
  }
  lua_getfield(L, lua_upvalueindex(1), key);
  return 1;
}

void tr_sched_init(lua_State *L) {
  static const luaL_Reg methods[] = {
    { "join", task_join }, { "cancel", task_cancel }, { "status", task_status }, { NULL, NULL }
  };
  memset(&S, 0, sizeof S);
  S.L = L;
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, LIVE_KEY);
  luaL_newmetatable(L, TASK_MT);
  luaL_newlib(L, methods);
  lua_pushcclosure(L, task_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, task_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}
