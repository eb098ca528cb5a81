/* Stopping Lua code that never yields. A signal or the --timeout deadline only sets a flag and
 * wakes the loop; Lua code that spins without waiting would never give control back. So the
 * signal path also sets a count hook on every coroutine running at that moment (as lua.c does
 * for SIGINT), and the hook yields the running task back to the scheduler, which then cancels
 * everything the usual way: <close> handlers run, the exit code is the signal's or 4. */
#ifndef TR_STOP_H
#define TR_STOP_H
#include <lua.h>

typedef enum {
  TR_STOP_NONE,       /* running normally */
  TR_STOP_REQUESTED,  /* a signal or the deadline came: running Lua code is being stopped */
  TR_STOP_HANDLED     /* the run loop took over and cancels the tasks; hooks stand down */
} tr_stop_state;

/* Async-signal-safe: asks every running coroutine to stop (sets the hook on each). Does
 * nothing once the stop was handled. */
void tr_stop_request(void);
tr_stop_state tr_stop_state_now(void);
/* The run loop has seen the signal or the deadline: from now on <close> handlers and the
 * cancellation they belong to run undisturbed. */
void tr_stop_handled(void);

/* lua_resume that keeps track of the running coroutines for tr_stop_request. A task stopped by
 * the hook comes back as a plain yield of the scheduler's sentinel (nres 1), so the scheduler
 * treats it as a task that yielded and the run loop cancels it. */
int tr_resume(lua_State *co, lua_State *from, int nargs, int *nres);

/* [-0, +0] Replaces the raw coroutine.resume with one that tracks the coroutines it runs, so a
 * runaway loop inside a runbook's own coroutine stops too. Call it before the stdlib's
 * coroutine wrappers capture coroutine.resume. */
void tr_stop_install(lua_State *L);

/* [-0, +1, m] The error a stopped Lua call raises where it cannot yield: kind "cancelled",
 * naming the signal or the deadline. */
void tr_stop_push_error(lua_State *L);

#endif
