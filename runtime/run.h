/* Runs a runbook to its end and decides the exit code. */
#ifndef TR_RUN_H
#define TR_RUN_H
#include <lua.h>

/* Exit codes (README: "Exit codes"). */
enum {
  TR_EXIT_OK = 0, TR_EXIT_ERROR = 1, TR_EXIT_USAGE = 2, TR_EXIT_FAILED = 3, TR_EXIT_TIMEOUT = 4,
  TR_EXIT_AUTH = 5, TR_EXIT_IN_DOUBT = 6
};

/* [-(nargs+1), +0] Runs the function below the nargs arguments as the main task, with the
 * loop, until every task has finished, a signal arrives or `timeout` seconds (> 0) pass.
 * `timeout_text` is how the user wrote it, for the message. Returns the exit code. */
int tr_run_main(lua_State *L, int nargs, double timeout, const char *timeout_text);

/* Whether the --timeout deadline ended the run (exit 4 from the deadline, not from a wait's own
 * timeout error): such a run was interrupted, and is resumed by the next start. */
int tr_run_deadline_fired(void);

#endif
