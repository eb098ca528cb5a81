/* Tasks: coroutines pinned in the registry, a FIFO ready queue, join and cancel.
 *
 * A task's handle is a full userdata (struct tr_task) whose user values are 1: its thread,
 * 2: its outcome, { n = N, results... } or { err = value, traceback = string, where = "file:line"
 * of the runbook where it was raised, when a frame of the runbook's was on its stack }, and 3: the
 * userdata of its last wait op. While a task is unfinished, the registry table "live" maps its
 * address to its handle, so neither is collected while only the loop knows about it.
 *
 * Finishing a task (its end, its failure, its cancel) first builds everything that allocates,
 * and only then commits. Allocating may run any __gc finalizer, which may cancel tasks, spawn
 * tasks or raise out of memory: a task being finished is marked `finishing`, which no cancel
 * touches, and an error thrown while building leaves nothing half-linked (run.c runs the whole
 * loop under a protected call; tr_sched_cancel_all then ends what an error interrupted). */
#include "sched.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "run_end.h"
#include "stackcheck.h"
#include "stop.h"

char tr_wait_sentinel;

typedef struct tr_join tr_join;

struct tr_task {
  lua_State *co;
  int id;
  tr_task_state state;
  int nargs;               /* arguments waiting on the stack for the first resume */
  int queued;              /* in the ready queue */
  int finishing;           /* its outcome is being built: cancels leave it alone */
  lua_Integer failure;     /* its entry in the unjoined-failures table, or 0 */
  tr_op *op;               /* what it waits on */
  tr_task *ready_prev, *ready_next;
  uint64_t ready_pass;     /* the pass of the ready queue that runs it */
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
  uint64_t pass;
  tr_task *current;
  tr_task *main;
  int live, next_id, unjoined_failures;
  lua_Integer failures;    /* entries ever made in the unjoined-failures table */
} S;

static const char LIVE_KEY[] = "taskrun.live";
static const char THREADS_KEY[] = "taskrun.task_threads";
static const char UNJOINED_KEY[] = "taskrun.unjoined";
static const char CHAIN_KEY[] = "taskrun.close_chain";
static const char MAIN_KEY[] = "taskrun.main";
#define TASK_MT "taskrun.task"

static const char *const state_names[] = {
  "ready", "running", "waiting", "done", "failed", "cancelled"
};

/* ---- the ready queue: doubly linked, so a cancelled task leaves it at once ---- */

static void ready_push(tr_task *t) {
  if (t->queued) return;
  t->queued = 1;
  t->state = TR_TASK_READY;
  t->ready_pass = S.pass;
  t->ready_next = NULL;
  t->ready_prev = S.tail;
  if (S.tail) S.tail->ready_next = t;
  else S.head = t;
  S.tail = t;
}

static void ready_remove(tr_task *t) {
  if (!t->queued) return;
  if (t->ready_prev) t->ready_prev->ready_next = t->ready_next;
  else S.head = t->ready_next;
  if (t->ready_next) t->ready_next->ready_prev = t->ready_prev;
  else S.tail = t->ready_prev;
  t->ready_prev = t->ready_next = NULL;
  t->queued = 0;
}

int tr_sched_has_ready(void) { return S.head != NULL; }
int tr_sched_live(void) { return S.live; }
int tr_sched_unjoined_failures(void) { return S.unjoined_failures; }

/* ---- the registry pin ---- */

/* [-0, +1] The handle of an unfinished task (from the live table). */
static void push_handle(lua_State *L, tr_task *t) {
  TR_STACK_BEGIN(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LIVE_KEY);
  lua_rawgetp(L, -1, t);
  lua_remove(L, -2);
  TR_STACK_END(L, 0, 1);
}

/* [-0, +0] Drops the pin; sets an existing key to nil, so it never allocates. */
static void unpin(lua_State *L, tr_task *t) {
  TR_STACK_BEGIN(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LIVE_KEY);
  lua_pushnil(L);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
  S.live--;
  TR_STACK_END(L, 0, 0);
}

/* ---- spawning ---- */

tr_task *tr_sched_spawn(lua_State *L, int nargs) {
  TR_STACK_BEGIN(L);
  int fn = lua_gettop(L) - nargs;
  tr_task *t = lua_newuserdatauv(L, sizeof *t, 3);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, TASK_MT);
  t->co = lua_newthread(L);
  lua_getfield(L, LUA_REGISTRYINDEX, THREADS_KEY);
  lua_pushvalue(L, -2);
  lua_pushinteger(L, S.next_id + 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (!S.main) {
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, MAIN_KEY);
  }
  /* The last allocation: once the task is pinned, nothing below can fail. */
  lua_getfield(L, LUA_REGISTRYINDEX, LIVE_KEY);
  lua_pushvalue(L, -2);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
  t->id = ++S.next_id;
  t->nargs = nargs;
  S.live++;
  if (!S.main) S.main = t;
  /* Move the function and its arguments onto the new thread, keeping the handle on top. */
  lua_insert(L, fn);
  lua_xmove(L, t->co, nargs + 1);
  ready_push(t);
  TR_STACK_END(L, nargs + 1, 1);
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

/* The index of the full userdata in L's frame whose block holds op, or 0. */
static int op_owner(lua_State *L, tr_op *op) {
  for (int i = lua_gettop(L); i >= 1; i--) {
    char *u = lua_type(L, i) == LUA_TUSERDATA ? lua_touserdata(L, i) : NULL;
    if (u && (char *)op >= u && (char *)(op + 1) <= u + lua_rawlen(L, i)) return i;
  }
  return 0;
}

/* Detaches op from its task without completing it: t->op and op->task stay each other's, or
 * both go. With that, an op not done whose task is set belongs to an unfinished, pinned task. */
static void drop_op(tr_task *t) {
  tr_op *op = t->op;
  if (!op) return;
  t->op = NULL;
  op->task = NULL;
  op->cancel(op);
}

/* The continuation of every wait: the binding's own runs only once its op completed and the
 * scheduler resumed its task. Anything else (a coroutine.resume of a coroutine that waits, from
 * another task or with the raw function) would run it on a transfer still in flight. */
static int await_k(lua_State *L, int status, lua_KContext ctx) {
  tr_op *op = (tr_op *)ctx;
  if (op->done && op->task && op->task == S.current) return op->k(L, status, op->ctx);
  if (!op->done && op->task) {
    /* Its wait is over: the task, once resumed, finds this coroutine dead. */
    tr_task *t = op->task;
    drop_op(t);
    if (t->state == TR_TASK_WAITING) ready_push(t);
  }
  return tr_raise(L, "usage", "a coroutine waiting in %s was resumed before taskrun resumed "
                  "it; a coroutine that waits (sleep, HTTP, join) cannot be resumed meanwhile",
                  op->what);
}

void tr_sched_check_wait(lua_State *L, const char *what) {
  TR_STACK_BEGIN(L);
  if (!S.current)
    tr_raise(L, "usage", "cannot wait here: %s was called while no task runs (in a __gc or "
             "<close> handler during shutdown or cancel)", what);
  if (!lua_isyieldable(L)) {
    const char *where = blocking_call(L);
    /* Lua reports errors in __gc as warnings, and only string ones keep their text. */
    if (strcmp(where, "__gc") == 0)
      luaL_error(L, "cannot wait here: %s was called in a __gc metamethod", what);
    tr_raise(L, "usage", "cannot wait here: %s was called inside '%s', which Lua cannot yield "
             "across (e.g. a table.sort comparator, a string.gsub callback, __gc); move the wait "
             "out of it", what, where);
  }
  TR_STACK_END(L, 0, 0);
}

int tr_await(lua_State *L, tr_op *op, const char *what, lua_KContext ctx, lua_KFunction k) {
  tr_sched_check_wait(L, what);
  int owner = op_owner(L, op);
  if (!owner) return luaL_error(L, "taskrun: %s waits on an op outside any userdata", what);
  /* The task's handle keeps the op alive: a coroutine closed or collected under a wait must not
   * free what the loop and the scheduler still point to. No allocation: setting a user value. */
  drop_op(S.current);   /* none, unless a raw resume broke an earlier wait */
  push_handle(L, S.current);
  lua_pushvalue(L, owner);
  lua_setiuservalue(L, -2, 3);
  lua_pop(L, 1);
  op->task = S.current;
  op->done = 0;
  op->what = what;
  op->k = k;
  op->ctx = ctx;
  S.current->op = op;
  lua_pushlightuserdata(L, TR_SENTINEL);
  return lua_yieldk(L, 1, (lua_KContext)op, await_k);
}

int tr_sched_can_wait(lua_State *L) {
  return S.current != NULL && lua_isyieldable(L);
}

void tr_op_complete(tr_op *op) {
  tr_task *t = op->task;
  if (op->done || !t || t->op != op) return;
  t->op = NULL;
  op->done = 1;
  ready_push(t);
}

void tr_sched_abandon_current_op(void) {
  if (S.current) drop_op(S.current);
}

/* ---- finishing ---- */

static void wake_joiners(tr_task *t) {
  for (tr_join *j = t->joiners; j; j = j->next) {
    j->target = NULL;
    tr_op_complete(&j->op);
  }
  t->joiners = NULL;
}

/* [-1, +0] Stores the table on the top of S.L as the task's outcome. Never allocates. */
static void set_outcome(tr_task *t) {
  lua_State *L = S.L;
  TR_STACK_BEGIN(L);
  push_handle(L, t);
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, 2);
  lua_pop(L, 1);
  TR_STACK_END(L, 1, 0);
}

/* [-1, +0] Logs each error in the list on the top of L as a failed <close> handler of task t. */
static void report_close_errors(lua_State *L, tr_task *t) {
  TR_STACK_BEGIN(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    tr_logf(TR_LOG_WARN, "task %d: a <close> handler failed: %s", t->id, tr_error_text(L, -1));
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  TR_STACK_END(L, 1, 0);
}

/* [-1, +0] Lua, in a protected call: closes the coroutines the task (light userdata) was
 * waiting in, innermost first, and logs the errors their <close> handlers raised. */
static int close_chain_p(lua_State *L) {
  TR_STACK_BEGIN(L);
  tr_task *t = lua_touserdata(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, CHAIN_KEY);
  if (lua_isfunction(L, -1)) {
    lua_pushthread(t->co);
    lua_xmove(t->co, L, 1);
    lua_call(L, 1, 1);
    report_close_errors(L, t);
  } else {
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  TR_STACK_END(L, 1, 0);
  return 0;
}

/* [-2, +0] Lua, in a protected call: runs the <close> handlers still pending on the thread of
 * the task (light userdata), given the error that killed it (or nil), and logs a handler's
 * error. */
static int reset_thread_p(lua_State *L) {
  TR_STACK_BEGIN(L);
  tr_task *t = lua_touserdata(L, 1);
  if (lua_isnil(L, 2) && lua_status(t->co) > LUA_YIELD) {
    /* A thread that died of an error (a finish an error interrupted): that error is no news. */
    lua_xmove(t->co, L, 1);
    lua_pushvalue(L, -1);
    lua_xmove(L, t->co, 1);
    lua_replace(L, 2);
  }
  /* After an error, resetthread reports that same error again unless a handler raised anew. */
  if (lua_resetthread(t->co) != LUA_OK) {
    lua_xmove(t->co, L, 1);
    if (lua_isnil(L, 2) || !lua_rawequal(L, -1, 2))
      tr_logf(TR_LOG_WARN, "task %d: a <close> handler failed: %s", t->id, tr_error_text(L, -1));
    lua_settop(L, 2);
  }
  lua_pop(L, 2);
  TR_STACK_END(L, 2, 0);
  return 0;
}

/* [-0, +0] Runs the <close> handlers still pending on a finished, failed or cancelled task,
 * first in any coroutines of its own that were waiting inside it. A failing handler is
 * reported, not lost. `err` is the index on S.L of the error that killed the task, or 0. Both
 * steps are protected: whatever a handler does, the scheduler goes on. */
static void close_thread(tr_task *t, int err) {
  lua_State *L = S.L;
  TR_STACK_BEGIN(L);
  tr_task *was = S.current;
  S.current = NULL;   /* handlers may not wait: the task is going away */
  lua_pushcfunction(L, close_chain_p);
  lua_pushlightuserdata(L, t);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);   /* only out of memory gets here */
  if (err) lua_pushvalue(L, err);
  lua_pushcfunction(L, reset_thread_p);
  lua_pushlightuserdata(L, t);
  if (err) lua_rotate(L, -3, -1);
  else lua_pushnil(L);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
  S.current = was;
  TR_STACK_END(L, 0, 0);
}

/* [-1, +0] Ends a task with the outcome on the top of S.L: its handlers run, its joiners wake,
 * the pin goes. `err` is as for close_thread. */
static void commit_end(tr_task *t, tr_task_state state, int err) {
  TR_STACK_BEGIN(S.L);
  drop_op(t);           /* none, unless a raw resume left one behind */
  set_outcome(t);
  t->state = state;
  ready_remove(t);
  close_thread(t, err);
  wake_joiners(t);
  unpin(S.L, t);
  TR_STACK_END(S.L, 1, 0);
}

/* [-0, +0, m] t returned nres values, on the top of its thread. */
static void finish_ok(tr_task *t, int nres) {
  lua_State *L = S.L;
  TR_STACK_BEGIN(L);
  t->finishing = 1;
  luaL_checkstack(L, nres + 4, "too many results");
  lua_createtable(L, nres, 1);
  lua_pushinteger(L, nres);
  lua_setfield(L, -2, "n");
  lua_xmove(t->co, L, nres);
  for (int i = nres; i >= 1; i--) lua_rawseti(L, -1 - i, i);
  commit_end(t, TR_TASK_DONE, 0);
  TR_STACK_END(L, 0, 0);
}

/* [-0, +0] Logs "task N failed: ..." from the outcome table at index `outcome` of L: where it
 * was raised, and its traceback unless its error is an expected one (run_end.h). */
static void report_failure(tr_task *t, lua_State *L, int outcome) {
  TR_STACK_BEGIN(L);
  char head[64];
  lua_getfield(L, outcome, "err");
  lua_getfield(L, outcome, "traceback");
  lua_getfield(L, outcome, "where");
  snprintf(head, sizeof head, "task %d failed: ", t->id);
  tr_end_report_error(L, -3, head, lua_tostring(L, -2), lua_tostring(L, -1), 0);
  lua_pop(L, 3);
  TR_STACK_END(L, 0, 0);
}

/* [-1, +0, m] Records a failed task's outcome (on the top of S.L) as not joined yet: the outcome
 * itself when it was reported (its error decides the exit code, and fills the end event), else
 * its handle, reported at the end if nobody takes it before. */
static void note_unjoined(tr_task *t, int reported) {
  lua_State *L = S.L;
  TR_STACK_BEGIN(L);
  lua_getfield(L, LUA_REGISTRYINDEX, UNJOINED_KEY);
  if (reported) {
    lua_pushvalue(L, -2);
  } else {
    push_handle(L, t);
  }
  lua_rawseti(L, -2, S.failures + 1);
  lua_pop(L, 2);
  t->failure = ++S.failures;
  S.unjoined_failures++;
  TR_STACK_END(L, 1, 0);
}

/* [-0, +0, m] t died of the error on the top of its thread. */
static void finish_failed(tr_task *t) {
  lua_State *L = S.L;
  TR_STACK_BEGIN(L);
  t->finishing = 1;
  lua_createtable(L, 0, 3);
  luaL_traceback(L, t->co, NULL, 0);
  lua_setfield(L, -2, "traceback");
  char where[512];
  if (tr_error_where(t->co, where, sizeof where) == 0) {
    lua_pushstring(L, where);
    lua_setfield(L, -2, "where");
  }
  /* The error moves to S.L, and a copy goes back into the slot it left on the thread, where
   * resetthread hands it to the <close> handlers. */
  lua_xmove(t->co, L, 1);
  lua_pushvalue(L, -1);
  lua_xmove(L, t->co, 1);
  lua_setfield(L, -2, "err");
  if (t != S.main) {
    int reported = !t->joiners;
    if (reported) report_failure(t, L, lua_gettop(L));
    lua_pushvalue(L, -1);
    note_unjoined(t, reported);
  }
  lua_getfield(L, -1, "err");
  lua_insert(L, -2);
  commit_end(t, TR_TASK_FAILED, lua_gettop(L) - 1);
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
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
  /* Only the tasks ready now: a task that keeps yielding must not starve the loop. Tasks queued
   * during this pass carry a later pass number. */
  uint64_t pass = S.pass++;
  tr_task *t;
  while ((t = S.head) && t->ready_pass <= pass) {
    ready_remove(t);
    if (t->state == TR_TASK_READY) resume(t);
  }
}

/* ---- cancelling ---- */

/* Whether co is running or resuming another coroutine: only a raw coroutine.resume of a task's
 * thread from another task gets there, and such a thread cannot be reset. */
static int thread_active(lua_State *co) {
  lua_Debug ar;
  return lua_status(co) == LUA_OK && lua_getstack(co, 0, &ar);
}

/* [-0, +0, m] Returns whether it cancelled t (not finished, not being finished). */
static int cancel_task(tr_task *t) {
  if (t->state >= TR_TASK_DONE || t->finishing || thread_active(t->co)) return 0;
  lua_State *L = S.L;
  TR_STACK_BEGIN(L);
  lua_createtable(L, 0, 1);
  tr_push_error(L, "cancelled", "task %d was cancelled", t->id);
  lua_setfield(L, -2, "err");
  /* The allocations above may have run a finalizer that ended t already. */
  if (t->state >= TR_TASK_DONE || t->finishing || thread_active(t->co)) {
    lua_pop(L, 1);
    TR_STACK_END(L, 0, 0);
    return 0;
  }
  t->finishing = 1;
  commit_end(t, TR_TASK_CANCELLED, 0);
  TR_STACK_END(L, 0, 0);
  return 1;
}

int tr_sched_cancel_all(void) {
  int n = 0;
  lua_State *L = S.L;
  TR_STACK_BEGIN(L);
  /* Collect first: cancelling runs <close> handlers, which may change the live table. */
  lua_getfield(L, LUA_REGISTRYINDEX, LIVE_KEY);
  lua_newtable(L);
  int i = 0;
  lua_pushnil(L);
  while (lua_next(L, -3)) {
    lua_rawseti(L, -3, ++i);
  }
  for (int k = 1; k <= i; k++) {
    lua_rawgeti(L, -1, k);
    tr_task *t = luaL_testudata(L, -1, TASK_MT);
    /* Outside the loop no finish is under way: `finishing` on an unfinished task is one an
     * error interrupted. */
    if (t && t->state < TR_TASK_DONE) t->finishing = 0;
    if (t && cancel_task(t)) n++;
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  TR_STACK_END(L, 0, 0);
  return n;
}

/* ---- the main task's outcome, and the failures nobody joined ---- */

tr_task_state tr_sched_main_state(void) {
  return S.main ? S.main->state : TR_TASK_READY;
}

void tr_sched_push_main_error(lua_State *L, const char **traceback, const char **where) {
  TR_STACK_BEGIN(L);
  lua_getfield(L, LUA_REGISTRYINDEX, MAIN_KEY);
  lua_getiuservalue(L, -1, 2);
  lua_remove(L, -2);
  lua_getfield(L, -1, "traceback");
  *traceback = lua_tostring(L, -1);
  lua_getfield(L, -2, "where");
  *where = lua_tostring(L, -1);
  lua_pop(L, 2);      /* the strings stay alive in the outcome table */
  lua_getfield(L, -1, "err");
  lua_remove(L, -2);
  TR_STACK_END(L, 0, 1);
}

int tr_sched_unjoined_exit_code(void) {
  lua_State *L = S.L;
  TR_STACK_BEGIN(L);
  int code = 0;
  lua_getfield(L, LUA_REGISTRYINDEX, UNJOINED_KEY);
  for (lua_Integer i = 1; i <= S.failures; i++) {
    int type = lua_rawgeti(L, -1, i);
    int c = 0;
    if (type == LUA_TUSERDATA) {
      tr_task *t = lua_touserdata(L, -1);
      lua_getiuservalue(L, -1, 2);
      report_failure(t, L, lua_gettop(L));
      lua_replace(L, -2);
      type = LUA_TTABLE;
    }
    if (type == LUA_TTABLE) {
      lua_getfield(L, -1, "err");
      c = tr_error_exit_code(L, -1);
      if (!code) {
        lua_getfield(L, -2, "where");
        tr_end_note_error(L, -2, lua_tostring(L, -1));
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    if (!code) code = c;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
  return code;
}

/* ---- the task handle: h:join(), h:cancel(), h:status(), h.id ---- */

static tr_task *check_task(lua_State *L) {
  return luaL_checkudata(L, 1, TASK_MT);
}

/* [-0, +0] A join takes the outcome: a failure recorded as unjoined no longer decides the exit
 * code. Sets an existing key to nil: never allocates. */
static void note_joined(lua_State *L, tr_task *t) {
  if (!t->failure) return;
  TR_STACK_BEGIN(L);
  lua_getfield(L, LUA_REGISTRYINDEX, UNJOINED_KEY);
  lua_pushnil(L);
  lua_rawseti(L, -2, t->failure);
  lua_pop(L, 1);
  t->failure = 0;
  S.unjoined_failures--;
  TR_STACK_END(L, 0, 0);
}

/* [-0, +n] The n results of a finished task (the handle at index 1), or raises its error with
 * its own traceback. */
static int push_outcome(lua_State *L, tr_task *t) {
  TR_STACK_BEGIN(L);
  note_joined(L, t);
  lua_getiuservalue(L, 1, 2);
  int outcome = lua_gettop(L);
  if (t->state == TR_TASK_DONE) {
    lua_getfield(L, outcome, "n");
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, n, "too many results");
    for (int i = 1; i <= n; i++) lua_rawgeti(L, outcome, i);
    lua_remove(L, outcome);
    TR_STACK_END(L, 0, n);
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
    /* Raw: the error is the runbook's table, whose metamethods may raise. Where the task
     * raised it goes with it too: the report names that line, not the join. */
    lua_getfield(L, outcome, "where");
    static const char *const keys[] = { "traceback", "where" };
    for (int k = 0; k < 2; k++) {
      if (lua_isnil(L, -2 + k)) continue;
      lua_pushstring(L, keys[k]);
      if (lua_rawget(L, -4) == LUA_TNIL) {
        lua_pushstring(L, keys[k]);
        lua_pushvalue(L, -4 + k);
        lua_rawset(L, -6);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return lua_error(L);
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
  if (t->state >= TR_TASK_DONE) {
    lua_settop(L, 1);
    return push_outcome(L, t);
  }
  if (t == S.current)
    return tr_raise(L, "usage", "task %d cannot join itself", t->id);
  tr_join *j = lua_newuserdatauv(L, sizeof *j, 0);
  memset(j, 0, sizeof *j);
  j->op.cancel = cancel_join;
  /* Linked only where tr_await cannot refuse: a refused join leaves no link behind. */
  if (tr_sched_can_wait(L)) {
    j->target = t;
    j->next = t->joiners;
    if (t->joiners) t->joiners->prev = j;
    t->joiners = j;
  }
  return tr_await(L, &j->op, "join", 0, join_k);
}

static int task_cancel(lua_State *L) {
  tr_task *t = check_task(L);
  if (t == S.current)
    return tr_raise(L, "usage", "task %d cannot cancel itself; return from it instead", t->id);
  lua_pushboolean(L, cancel_task(t));
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

int tr_sched_task_id_lua(lua_State *L) {
  TR_STACK_BEGIN(L);
  lua_getfield(L, LUA_REGISTRYINDEX, THREADS_KEY);
  lua_pushvalue(L, 1);
  lua_rawget(L, -2);
  lua_remove(L, -2);
  TR_STACK_END(L, 0, 1);
  return 1;
}

void tr_sched_init(lua_State *L) {
  static const luaL_Reg methods[] = {
    { "join", task_join }, { "cancel", task_cancel }, { "status", task_status }, { NULL, NULL }
  };
  TR_STACK_BEGIN(L);
  memset(&S, 0, sizeof S);
  S.L = L;
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, LIVE_KEY);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, UNJOINED_KEY);
  /* thread -> task id, weak: a finished task's thread goes with its handle. */
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, THREADS_KEY);
  luaL_newmetatable(L, TASK_MT);
  luaL_newlib(L, methods);
  lua_pushcclosure(L, task_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, task_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
}
