/* The top of the loop: alternate between resuming ready tasks and waiting for events, and
 * turn the way the run ended into an exit code and a message. */
#include "run.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "loop.h"
#include "output.h"
#include "sched.h"
#include "signals.h"
#include "stop.h"
#include "timer.h"

static int report_main_failure(lua_State *L) {
  const char *traceback;
  tr_sched_push_main_error(L, &traceback);
  int err = lua_gettop(L);
  int code = tr_error_exit_code(L, err);
  const char *text = tr_error_text(L, err);
  /* A task's own traceback (re-raised by join) says more than where join was called. */
  if (lua_type(L, err) == LUA_TTABLE) {
    lua_getfield(L, err, "traceback");
    if (lua_isstring(L, -1)) traceback = lua_tostring(L, -1);
  }
  tr_log_report(text, traceback);
  lua_settop(L, err - 1);
  return code;
}

/* [-0, +0] Appends "; waiting on ..." from the runbook's interrupt hook, if it says anything. */
static void describe_waits(lua_State *L, char *msg, size_t n) {
  lua_getfield(L, LUA_REGISTRYINDEX, TR_INTERRUPT_HOOK);
  if (lua_isfunction(L, -1) && lua_pcall(L, 0, 1, 0) == LUA_OK && lua_isstring(L, -1)) {
    size_t used = strlen(msg);
    snprintf(msg + used, n - used, " while %s", lua_tostring(L, -1));
  }
  lua_pop(L, 1);
}

static void cancelled(char *msg, size_t n, int tasks) {
  size_t used = strlen(msg);
  snprintf(msg + used, n - used, "; cancelled %d task%s", tasks, tasks == 1 ? "" : "s");
}

static const char *signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

int tr_run_main(lua_State *L, int nargs, double timeout, const char *timeout_text) {
  double deadline = timeout > 0 ? tr_now() + timeout : -1;
  char msg[1024];
  tr_sched_spawn(L, nargs);
  lua_pop(L, 1);
  /* A timer signal, not only a loop timer: it also stops Lua code that never yields. */
  if (deadline >= 0) tr_signals_arm_deadline(timeout);
  for (;;) {
    tr_sched_run_ready();
    /* stdout is gone (output.c): nothing the run does can be seen; main says why. */
    if (tr_output_broken()) {
      tr_sched_cancel_all();
      return TR_EXIT_ERROR;
    }
    /* A signal or the deadline first: a task it stopped may have failed on the way out. */
    int sig = tr_signals_pending();
    if (sig) {
      tr_stop_handled();
      snprintf(msg, sizeof msg, "interrupted by %s", signal_name(sig));
      describe_waits(L, msg, sizeof msg);
      int n = tr_sched_cancel_all();
      cancelled(msg, sizeof msg, n);
      tr_log_report(msg, NULL);
      return 128 + sig;
    }
    double now = tr_now();
    if ((deadline >= 0 && now >= deadline) || tr_signals_deadline_passed()) {
      tr_stop_handled();
      snprintf(msg, sizeof msg, "--timeout %s ran out", timeout_text);
      describe_waits(L, msg, sizeof msg);
      int n = tr_sched_cancel_all();
      cancelled(msg, sizeof msg, n);
      tr_log_report(msg, NULL);
      return TR_EXIT_TIMEOUT;
    }
    tr_task_state main = tr_sched_main_state();
    if (main == TR_TASK_FAILED || main == TR_TASK_CANCELLED) {
      int code = report_main_failure(L);
      tr_sched_cancel_all();
      return code;
    }
    if (tr_sched_live() == 0) break;
    if (!tr_sched_has_ready() && tr_loop_idle()) {
      int n = tr_sched_cancel_all();
      snprintf(msg, sizeof msg, "deadlock: %d task%s wait on each other and nothing else can "
               "wake them (a join cycle?)", n, n == 1 ? "" : "s");
      tr_log_report(msg, NULL);
      return TR_EXIT_ERROR;
    }
    tr_loop_run_once(tr_sched_has_ready() ? 0 : deadline >= 0 ? deadline - now : -1);
  }
  return tr_sched_unjoined_failures() > 0 ? TR_EXIT_ERROR : TR_EXIT_OK;
}
