/* Durable runs: where the journal lives, which run a start continues, the locks a run holds,
 * and how its end is recorded. Talks to the journal only through journal.h. */
#ifndef TR_DURABLE_H
#define TR_DURABLE_H
#include <lua.h>
#include <stddef.h>

#include "journal.h"

/* EX_TEMPFAIL: the run's key or its --lock is held by another run, or the journal's database
 * cannot be reached: nothing was run. Also the exit of a run that lost its journal on the way
 * (a lock lost, the database gone past TASKRUN_JOURNAL_RETRY): stopped, resumable. */
#define TR_EXIT_LOCKED 75

typedef struct {
  const char *state_dir;     /* --state-dir, or NULL */
  const char *journal;       /* --journal URL, or NULL */
  int no_journal;            /* --no-journal */
  int fresh;                 /* --fresh */
  int retry_failed;          /* --retry-failed */
  const char *run_id;        /* --run-id, or NULL */
  const char *lock;          /* --lock NAME, or NULL */
  double lock_wait;          /* --lock-wait, seconds (0: do not wait) */
  const char *lock_wait_text;  /* --lock-wait as given, for the message */
} tr_durable_opts;

/* The state directory: --state-dir, else TASKRUN_STATE_DIR, else $XDG_STATE_HOME/taskrun, else
 * ~/.local/state/taskrun, else /var/lib/taskrun. Writes it to buf; returns 0, or -1 when it is
 * too long or nothing names one. */
int tr_state_dir_resolve(const char *flag, char *buf, size_t n);

/* Chooses where the journal is: a PostgreSQL database when a URL is given (`flag`: --journal,
 * else TASKRUN_JOURNAL_URL, else the contents of the file TASKRUN_JOURNAL_URL_FILE names), else
 * SQLite in the state directory. The URL's password is registered as a secret first. Returns 0,
 * or -1 with the reason in err (not a postgresql:// URL, an unreadable file). */
int tr_journal_select(const char *flag, char *err, size_t errlen);

/* The journal database's URL, or NULL (SQLite). */
const char *tr_journal_url(void);

/* Opens the journal: the database's when a URL was selected, else SQLite's in `dir` (creating
 * the directory, mode 0700, when `create`). Returns NULL with the reason in err; *missing is set
 * when the directory does not exist and !create, *transient when the database could not be
 * reached within its retry bound. */
tr_journal *tr_journal_open_dir(const char *dir, int create, int *missing, int *transient,
                                char *err, size_t errlen);

/* The backend in use. */
const tr_journal_ops *tr_journal_backend(void);

/* Before the run: opens the journal, takes the key lock and --lock, begins or resumes the run
 * of `script` (NULL for -e) and its arguments. Returns -1 to go on, or the exit code after
 * reporting (2: unusable state directory; 75: a lock is held; 1: a journal error). */
int tr_durable_begin(const tr_durable_opts *o, const char *script, char **args, int nargs);

/* [-0, +0, m] Sets taskrun.run = { id =, resumed =, attempt = } in the runbook's state. */
void tr_durable_push_run(lua_State *L);

/* The journal of the run in progress and the run's journal id, for what records steps; NULL
 * (and *run_id NULL) when the run is not journaled. */
tr_journal *tr_durable_current(const tr_journal_ops **ops, const char **run_id);

/* The run's id as taskrun.run.id gives it (the --run-id, else the journal's id), or NULL; valid
 * until tr_durable_end. */
const char *tr_durable_run_id(void);

/* Notes that a provider call of this run is in doubt (sent, its answer lost): a run that then
 * fails ends "in-doubt", resumable, so that running it again reconciles the call. */
void tr_durable_mark_in_doubt(void);

/* When the journaled run in progress began (its first attempt; epoch seconds), or 0. */
double tr_durable_run_started(void);

/* The attempt of the run in progress: 1 on its first start (and when not journaled). */
long long tr_durable_attempt(void);

/* Whether the journaled run in progress is a resumed one (its journal may hold steps). */
int tr_durable_resumed(void);

/* Whether --retry-failed was given: a resumed run runs its failed steps again. */
int tr_durable_retry_failed(void);

/* After the run: records how it ended (interrupted when the code is 130 or 143, or when the
 * --timeout deadline ended it; in doubt when it is 6, or not 0 after a call was
 * marked in doubt) and releases the locks. Returns `code`, or 1 when the end
 * could not be recorded. */
int tr_durable_end(int code, int deadline_fired);

/* How long (seconds) the journal may hold back the writes that are not durable (explicit
 * steps, waits) before committing them: one commit for every step that finished meanwhile,
 * not one each (a commit is a dozen system calls). A run killed within this time of a step's
 * end, before it printed anything, runs that step again, as explicit steps promise (at least
 * once); a provider call's rows and the run's end are never held back, and commit what was held
 * first. Why 50 ms: a commit costs a busy run 0.15-0.2 ms besides the pages it writes (its
 * BEGIN, locks and system calls, on caches the steps in between have cooled; measured on a
 * small VM), so a run whose steps never pause (1,000 provider reads in 0.1 s) spent about 2%
 * of its CPU time on that every 10 ms, and 0.4% every 50 ms; a run killed at the wrong moment
 * redoes at most 50 ms of explicit steps. */
/* (A profiling build may set another with -DTR_JOURNAL_BATCH=seconds.) */
#ifndef TR_JOURNAL_BATCH
#define TR_JOURNAL_BATCH 0.050
#endif

/* Commits the journal writes held back so far (journal.h: flush), and watches the journal's
 * locks when that is due (journal.h: watch): the run's loop calls it when tr_durable_flush_in
 * says so, and the runbook's output before it is written (what the runbook prints says it went
 * on). Returns 0, or once it failed (reported the first time) the exit code the run must stop
 * with: 1, or 75 when the journal is lost to the run (resumable). */
int tr_durable_flush(void);

/* Seconds until tr_durable_flush must be called (0: now): the writes held back are due, or the
 * locks' watch; -1 when neither is. The run's loop calls it every turn. */
double tr_durable_flush_in(void);

#endif
