/* The run's end: how the error that ended it is reported (its message and where the runbook
 * raised it; the traceback only for an unexpected error, or at --log-level debug), the end
 * event of a JSON log, and what follows the exit code: --log-on-failure's held lines,
 * --metrics-file, and --ping's pings. */
#ifndef TR_RUN_END_H
#define TR_RUN_END_H
#include <lua.h>
#include <stddef.h>

/* How many bytes of the log --log-on-failure holds (the latest), and how many of its tail
 * --ping sends with a failure (what healthchecks.io's self-hosted servers keep of a body). */
#define TR_HOLD_BYTES (1024 * 1024)
#define TR_PING_BODY 10000

typedef struct {
  const char *runbook;        /* the script's file name (the metrics' label), or "-e" */
  const char *metrics_file;   /* --metrics-file PATH, or NULL */
  const char *ping_url;       /* --ping URL, or NULL */
  double ping_timeout;        /* seconds per ping */
  int hold;                   /* --log-on-failure */
} tr_end_opts;

/* At start-up, before anything is logged: notes when the run began, holds the log or keeps its
 * tail as the options ask, starts the counters. Returns 0, or -1 out of memory. */
int tr_end_configure(const tr_end_opts *o);

/* The run begins (its locks are held): sends --ping's start ping. `run_id` (the --run-id or the
 * journal's id, or NULL) and `attempt` name it in the end event and the pings' body. */
void tr_end_started(const char *run_id, long long attempt);

/* [-0, +0, m] Reports the error value at idx, which ends the run when `ends` (the main task's
 * error), else reports a task's failure as it happens. `prefix` (or NULL) goes before its text;
 * `traceback` (or NULL) is shown only for an error that is not of an expected kind
 * (tr_error_expected) or at --log-level debug; `where` is "file:line" in the runbook, or NULL.
 * Text shows it at once; JSON holds the report that ends the run for the end event. */
void tr_end_report_error(lua_State *L, int idx, const char *prefix, const char *traceback,
                         const char *where, int ends);

/* The run ends with a message of taskrun's own (a signal, --timeout, a deadlock, a setting
 * missing): reported as tr_log_report does, or held for the end event in JSON. `kind` (or NULL)
 * is the error kind it stands for. */
void tr_end_report(const char *kind, const char *msg);

/* [-0, +0, m] The error value at idx decides the exit code, already reported (a failed task
 * nobody joined): only its fields go into a JSON end event. */
void tr_end_note_error(lua_State *L, int idx, const char *where);

/* Once the exit code is final: the end event (JSON), the held log (shown when code is not 0),
 * the metrics file and the last ping (neither for 75: a run that found its lock held ran
 * nothing). Returns code: nothing here changes it. Runs once; later calls return code. */
int tr_end_finish(int code);

/* [-0, +0, m] Replaces os.exit in the runbook's state: it ends the run as main does (the journal,
 * stdout's last flush, tr_end_finish), then exits with the final code. */
void tr_end_install(lua_State *L);

#endif
