/* The top of the loop: alternate between resuming ready tasks and waiting for events, and
 * turn the way the run ended into an exit code and a message.
 *
 * The whole loop runs inside one protected call, as lua.c runs its pmain: building an outcome,
 * a traceback or a message allocates, and an allocation can fail (TASKRUN_MEMORY_LIMIT) at any
 * point. Such an error ends the run with a message and exit 1, never a Lua panic. */
#include "run.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "errors.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "output.h"
#include "run_end.h"
#include "sched.h"
#include "signals.h"
#include "stackcheck.h"
#include "stop.h"
#include "timer.h"

typedef struct {
  int nargs;
  double timeout;
  const char *timeout_text;
  int code;                /* the exit code, once decided; -1 before */
} run_state;

/* [-0, +0] Reports the main task's error: its message, where the runbook raised it, and its
 * traceback when it is not an expected failure (run_end.h). Returns the exit code it maps to. */
static int report_main_failure(lua_State *L) {
  TR_STACK_BEGIN(L);
  const char *traceback, *where;
  tr_sched_push_main_error(L, &traceback, &where);
  int err = lua_gettop(L);
  int code = tr_error_exit_code(L, err);
  /* A task's own traceback and place (re-raised by join) say more than where join was called.
   * Raw: the error is the runbook's table, whose __index may raise. */
  if (lua_type(L, err) == LUA_TTABLE) {
    lua_pushliteral(L, "traceback");
    if (lua_rawget(L, err) == LUA_TSTRING) traceback = lua_tostring(L, -1);
    lua_pushliteral(L, "where");
    if (lua_rawget(L, err) == LUA_TSTRING) where = lua_tostring(L, -1);
  }
  tr_end_report_error(L, err, NULL, traceback, where, 1);
  lua_settop(L, err - 1);
  TR_STACK_END(L, 0, 0);
  return code;
}

/* [-0, +0] Appends "; waiting on ..." from the runbook's interrupt hook, if it says anything. */
static void describe_waits(lua_State *L, char *msg, size_t n) {
  TR_STACK_BEGIN(L);
  lua_getfield(L, LUA_REGISTRYINDEX, TR_INTERRUPT_HOOK);
  if (lua_isfunction(L, -1) && lua_pcall(L, 0, 1, 0) == LUA_OK && lua_isstring(L, -1)) {
    size_t used = strlen(msg);
    snprintf(msg + used, n - used, " while %s", lua_tostring(L, -1));
  }
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
}

static void cancelled(char *msg, size_t n, int tasks) {
  size_t used = strlen(msg);
  snprintf(msg + used, n - used, "; cancelled %d task%s", tasks, tasks == 1 ? "" : "s");
}

static const char *signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

static int deadline_fired;

int tr_run_deadline_fired(void) {
  return deadline_fired;
}

/* The run's exit code is decided: from here on the runbook is being shut down (its tasks
 * cancelled, their <close> handlers run), which the memory limit must not stop half-way. */
static int decide(run_state *rs, int code) {
  rs->code = code;
  tr_host_memory_limit(0);
  return code;
}

/* [-(nargs+1), +0] Runs the loop on the function and its arguments (rs->nargs) until the run
 * ends; returns the exit code. */
static int run_loop(lua_State *L, run_state *rs) {
  TR_STACK_BEGIN(L);
  double deadline = rs->timeout > 0 ? tr_now() + rs->timeout : -1;
  char msg[1024];
  tr_sched_spawn(L, rs->nargs);
  lua_pop(L, 1);
  /* A timer signal, not only a loop timer: it also stops Lua code that never yields. */
  if (deadline >= 0) tr_signals_arm_deadline(rs->timeout);
  for (;;) {
    tr_sched_run_ready();
    /* stdout is gone (output.c): nothing the run does can be seen; main says why. */
    if (tr_output_broken()) {
      decide(rs, TR_EXIT_ERROR);
      tr_sched_cancel_all();
      TR_STACK_END(L, rs->nargs + 1, 0);
      return TR_EXIT_ERROR;
    }
    /* A signal or the deadline first: a task it stopped may have failed on the way out. */
    int sig = tr_signals_pending();
    if (sig) {
      tr_stop_handled();
      snprintf(msg, sizeof msg, "interrupted by %s", signal_name(sig));
      describe_waits(L, msg, sizeof msg);
      decide(rs, 128 + sig);
      int n = tr_sched_cancel_all();
      cancelled(msg, sizeof msg, n);
      tr_end_report(NULL, msg);
      TR_STACK_END(L, rs->nargs + 1, 0);
      return 128 + sig;
    }
    double now = tr_now();
    if ((deadline >= 0 && now >= deadline) || tr_signals_deadline_passed()) {
      tr_stop_handled();
      deadline_fired = 1;
      snprintf(msg, sizeof msg, "--timeout %s ran out", rs->timeout_text);
      describe_waits(L, msg, sizeof msg);
      decide(rs, TR_EXIT_TIMEOUT);
      int n = tr_sched_cancel_all();
      cancelled(msg, sizeof msg, n);
      tr_end_report("timeout", msg);
      TR_STACK_END(L, rs->nargs + 1, 0);
      return TR_EXIT_TIMEOUT;
    }
    tr_task_state main = tr_sched_main_state();
    if (main == TR_TASK_FAILED || main == TR_TASK_CANCELLED) {
      int code = decide(rs, report_main_failure(L));
      tr_sched_cancel_all();
      TR_STACK_END(L, rs->nargs + 1, 0);
      return code;
    }
    if (tr_sched_live() == 0) break;
    if (!tr_sched_has_ready() && tr_loop_idle()) {
      decide(rs, TR_EXIT_ERROR);
      int n = tr_sched_cancel_all();
      snprintf(msg, sizeof msg, "deadlock: %d task%s wait on each other and nothing else can "
               "wake them (a join cycle?)", n, n == 1 ? "" : "s");
      tr_end_report(NULL, msg);
      TR_STACK_END(L, rs->nargs + 1, 0);
      return TR_EXIT_ERROR;
    }
    /* Steps and waits journaled lately are committed together, at most TR_JOURNAL_BATCH
     * seconds after the first of them, and a shared journal's locks are watched (durable.h):
     * the loop wakes up for it if need be. */
    double flush_in = tr_durable_flush_in();
    int stop = flush_in == 0 ? tr_durable_flush() : 0;
    if (stop != 0) {
      decide(rs, stop);
      tr_sched_cancel_all();
      TR_STACK_END(L, rs->nargs + 1, 0);
      return stop;
    }
    double wait = tr_sched_has_ready() ? 0 : deadline >= 0 ? deadline - now : -1;
    if (flush_in > 0 && (wait < 0 || flush_in < wait)) wait = flush_in;
    tr_loop_run_once(wait);
  }
  /* The main task succeeded: a failure nobody joined decides, by its kind. */
  int code = tr_sched_unjoined_exit_code();
  TR_STACK_END(L, rs->nargs + 1, 0);
  return decide(rs, code);
}

/* [-(nargs+2), +0] Lua, under lua_pcall: the function, its nargs arguments, and the run_state
 * (light userdata) on top. */
static int run_protected(lua_State *L) {
  TR_STACK_BEGIN(L);
  run_state *rs = lua_touserdata(L, -1);
  lua_pop(L, 1);
  rs->code = run_loop(L, rs);
  TR_STACK_END(L, rs->nargs + 2, 0);
  return 0;
}

/* [-0, +0] Lua, under lua_pcall: cancels what an error left running. */
static int cancel_all_protected(lua_State *L) {
  TR_STACK_BEGIN(L);
  tr_sched_cancel_all();
  TR_STACK_END(L, 0, 0);
  return 0;
}

/* Reads TASKRUN_MEMORY_LIMIT: 0 and *limit set (0: none), or -1 after reporting a bad value. */
static int memory_limit(size_t *limit) {
  const char *v = getenv("TASKRUN_MEMORY_LIMIT");
  *limit = 0;
  if (!v || !*v) return 0;
  if (tr_host_parse_size(v, limit) == 0) return 0;
  char msg[256];
  snprintf(msg, sizeof msg, "bad TASKRUN_MEMORY_LIMIT \"%.64s\": give a size in bytes, or with "
           "K, M or G (e.g. 512M)", v);
  tr_end_report("usage", msg);
  return -1;
}

int tr_run_main(lua_State *L, int nargs, double timeout, const char *timeout_text) {
  TR_STACK_BEGIN(L);
  run_state rs = { nargs, timeout, timeout_text, -1 };
  size_t limit;
  if (memory_limit(&limit) != 0) {
    lua_pop(L, nargs + 1);
    TR_STACK_END(L, nargs + 1, 0);
    return TR_EXIT_USAGE;
  }
  lua_pushcfunction(L, run_protected);
  lua_insert(L, -(nargs + 2));
  lua_pushlightuserdata(L, &rs);
  tr_host_memory_limit(limit);
  int status = lua_pcall(L, nargs + 2, 0, 0);
  tr_host_memory_limit(0);
  if (status != LUA_OK) {
    /* Out of memory (or a bug) in the scheduler itself, outside every task. With the limit
     * lifted, what was still running is cancelled so its <close> handlers run. */
    if (rs.code < 0) {
      char msg[512];
      if (status == LUA_ERRMEM && limit)
        snprintf(msg, sizeof msg, "out of memory: the run reached TASKRUN_MEMORY_LIMIT=%.64s",
                 getenv("TASKRUN_MEMORY_LIMIT"));
      else if (status == LUA_ERRMEM)
        snprintf(msg, sizeof msg, "out of memory");
      else
        snprintf(msg, sizeof msg, "internal error: %.400s",
                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
      tr_end_report(NULL, msg);
      rs.code = TR_EXIT_ERROR;
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, cancel_all_protected);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) lua_pop(L, 1);
  }
  TR_STACK_END(L, nargs + 1, 0);
  return rs.code;
}
