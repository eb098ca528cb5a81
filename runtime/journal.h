/* The journal's storage interface: what durable runs need from wherever runs and steps are
 * kept. Nothing above this header knows which backend holds them: SQLite in the state
 * directory (journal_sqlite.c, the default) or a PostgreSQL database that a fleet of hosts
 * shares (journal_pg.c, chosen by a postgresql:// URL).
 *
 * Every operation returns 0 on success and -1 on failure, with the reason in tr_journal_error()
 * unless said otherwise. Times are seconds since the epoch (UTC). JSON arguments are text the
 * caller has already encoded; the backend stores and returns it as is. */
#ifndef TR_JOURNAL_H
#define TR_JOURNAL_H
#include <stddef.h>
#include <sys/types.h>

typedef struct tr_journal tr_journal;

/* A run's status as stored. "running" with nobody holding its key lock means the process died:
 * readers show it as interrupted (see tr_journal_ops.key_held). */
#define TR_RUN_RUNNING "running"
#define TR_RUN_FINISHED "finished"         /* ended by itself with exit 0 */
#define TR_RUN_FAILED "failed"             /* ended by itself with exit 1..5 */
#define TR_RUN_INTERRUPTED "interrupted"   /* SIGINT/SIGTERM or --timeout: resumable */
#define TR_RUN_IN_DOUBT "in-doubt"         /* a call sent, its answer never recorded */
#define TR_RUN_ABANDONED "abandoned"       /* --fresh (or an operator) gave it up */

/* A step's state. */
#define TR_STEP_STARTED "started"
#define TR_STEP_FINISHED "finished"
#define TR_STEP_FAILED "failed"
#define TR_STEP_REDO "redo"                /* an operator asked for the call to be sent again */

/* One run, as read back. Strings are owned by the row (tr_journal_run_free). */
typedef struct {
  char *id, *key, *script, *args, *status, *host;   /* args: a JSON array of strings */
  char *script_hash;         /* of the script's text when the run began; NULL when unknown */
  long long attempt;
  double started, ended;     /* ended < 0: no end recorded */
  int exit_code;             /* -1 when none */
  long long pid;
} tr_journal_run;

/* One step, as read back. result, error and resolution are JSON text or NULL; created_id may be
 * NULL. A started step's result holds what it began with (a wait's deadline, a call's
 * arguments). */
typedef struct {
  char *step_key, *state, *result, *error, *created_id, *resolution;
  long long seq;
  double started, ended;     /* ended < 0: not ended */
} tr_journal_step;

/* One attempt of a run (a start of it): who ran it, as read back. Strings owned by the row. */
typedef struct {
  long long attempt, pid;
  char *host, *status;       /* status: NULL while it runs (or when its process died) */
  double started, ended;     /* ended < 0: no end recorded */
  int exit_code;             /* -1 when none */
} tr_journal_attempt;

/* Who holds a lock that could not be taken. */
typedef struct {
  long long pid;
  double started;            /* when the holder took it; 0 when unknown */
  char host[256];            /* the holder's host name; "" when unknown */
} tr_journal_holder;

typedef int (*tr_journal_run_cb)(void *ud, const tr_journal_run *run);
typedef int (*tr_journal_step_cb)(void *ud, const tr_journal_step *step);
typedef int (*tr_journal_attempt_cb)(void *ud, const tr_journal_attempt *attempt);

typedef struct {
  const char *name;          /* "sqlite" or "postgresql" */
  /* Opens (creating or migrating its schema if need be) the journal at `where`: the state
   * directory, which exists (SQLite), or the database's URL (PostgreSQL). Returns NULL with
   * the reason in err; *transient set when trying again later may succeed (a database that
   * could not be reached within its retry bound). */
  tr_journal *(*open)(const char *where, char *err, size_t errlen, int *transient);
  void (*close)(tr_journal *j);
  const char *(*error)(tr_journal *j);
  /* Makes every write so far as safe as its kind promises (see the steps below): writes that
   * are not durable may be held back until this, the next durable write, or close. */
  int (*flush)(tr_journal *j);
  /* When (epoch seconds) the oldest write held back was made; 0 when none is. */
  double (*held_since)(tr_journal *j);
  /* Checks that the run may go on: its locks still held, its journal reachable. Returns 0,
   * or -1 once the journal is lost (lost() is 1), and sets *next_in to the seconds until it
   * wants to be called again (< 0: never; SQLite's locks cannot be lost). */
  int (*watch)(tr_journal *j, double *next_in);
  /* Whether the journal is lost to this run: a lock it held was lost (another process may run
   * its key now) or the database stayed unreachable past the retry bound. The run must stop
   * at once, write nothing more, and can be resumed (exit 75). */
  int (*lost)(tr_journal *j);

  /* Locks, released by close or by the process's death (a crash never strands one). `name` is
   * "key:<run key>" or "name:<--lock NAME>". Returns 0 when taken, 1 when another process holds
   * it (holder filled, after waiting up to `wait` seconds), -1 on an error. */
  int (*lock)(tr_journal *j, const char *name, double wait, tr_journal_holder *holder);
  void (*unlock)(tr_journal *j, const char *name);
  /* Whether a live process holds the lock `name` now (1), not (0), or -1 on an error. */
  int (*held)(tr_journal *j, const char *name);

  /* Begins a run of `key` (the caller holds its key lock): resumes its unfinished run (running,
   * interrupted, in-doubt) with attempt + 1, or, when it has none or `fresh` is set (marking the
   * unfinished one abandoned), inserts a new one with attempt 1. Fills *out (id, key,
   * attempt, ...); *resumed tells which. A resumed run keeps the script_hash it began with. */
  int (*run_begin)(tr_journal *j, const char *key, const char *script, const char *args_json,
                   const char *script_hash, int fresh, long long pid, const char *host,
                   tr_journal_run *out, int *resumed);
  /* Records the run's end (and its attempt's): one of the TR_RUN_* statuses and the exit
   * code. */
  int (*run_end)(tr_journal *j, const char *run_id, const char *status, int exit_code);
  /* Calls cb for each attempt of the run, first first, until cb returns non-zero. */
  int (*attempts_list)(tr_journal *j, const char *run_id, tr_journal_attempt_cb cb, void *ud);
  /* Calls cb for every run, oldest first, until cb returns non-zero. */
  int (*runs_list)(tr_journal *j, tr_journal_run_cb cb, void *ud);
  /* Reads the run `ref`: its id, or else the latest run of that key. Returns 1 when none. */
  int (*run_get)(tr_journal *j, const char *ref, tr_journal_run *out);
  /* Removes the runs that finished (finished or failed) before `before`, with their steps;
   * *removed counts them. Nothing else ever deletes history. */
  int (*prune)(tr_journal *j, double before, long long *removed);

  /* Steps: one row per (run, step_key, seq), seq counting repeats of the same key. `durable`
   * set: the row is on disk when the call returns (a provider call's row, before and after its
   * request); else, once flushed, it is written where the process's death cannot lose it,
   * though a power cut before the next durable write can (explicit steps run at least once
   * anyway). */
  /* Records a step's start, with `data_json` (NULL for none) kept in its result while it runs.
   * A step started again (after a crash) starts over in the same row. */
  int (*step_started)(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                      const char *data_json, int durable);
  /* Records a step's end: `state` TR_STEP_FINISHED with its result_json (and the id it
   * created, or NULL), or TR_STEP_FAILED with its error_json (the other NULL). */
  int (*step_ended)(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                    const char *state, const char *result_json, const char *error_json,
                    const char *created_id, int durable);
  /* Records how an operator settled a step (`taskrun runs resolve`), durably: the step's new
   * state (NULL: unchanged; "finished" also ends the step now), the id adopted (NULL:
   * unchanged) and the resolution (who, when, how) as JSON. Fails when the run has no such
   * step. */
  int (*step_resolve)(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                      const char *state, const char *created_id, const char *resolution_json);
  /* Whether any step of any run records `created_id` as what it created: 1 yes, 0 no, -1 on
   * an error (an in-doubt call never adopts what another step owns). */
  int (*created_known)(tr_journal *j, const char *created_id);
  /* Reads one step. Returns 1 when there is none. */
  int (*step_get)(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                  tr_journal_step *out);
  /* Calls cb for each step of the run in the order they started (a step run again: by its
   * latest start), until cb returns non-zero. */
  int (*steps_list)(tr_journal *j, const char *run_id, tr_journal_step_cb cb, void *ud);
} tr_journal_ops;

/* The backends. */
extern const tr_journal_ops tr_journal_sqlite;
extern const tr_journal_ops tr_journal_pg;

/* Frees what a read row owns (not the row itself); the row is zeroed. */
void tr_journal_run_free(tr_journal_run *r);
void tr_journal_step_free(tr_journal_step *s);
void tr_journal_attempt_free(tr_journal_attempt *a);

#endif
