/* The PostgreSQL journal's parts, shared by its three files and used nowhere else:
 * journal_pg.c (the schema, runs and steps: the tr_journal_ops), journal_pg_conn.c (connections,
 * retries within the bound, errors) and journal_pg_lock.c (the advisory locks, their watch, and
 * the fence that ties the run's writes to its key lock). journal_pg.c's comment says how they
 * fit. */
#ifndef TR_JOURNAL_PG_H
#define TR_JOURNAL_PG_H
#include <libpq-fe.h>
#include <stddef.h>

#include "escape.h"
#include "held.h"
#include "journal.h"

#define MAX_LOCKS 8

struct tr_journal {
  PGconn *db;                /* the journal's reads and writes */
  PGconn *lk;                /* holds the advisory locks and does nothing else */
  char *url, *schema, *schema_q;   /* schema_q: quoted as an identifier */
  char err[1024];
  double retry;              /* seconds a write may wait for the database */
  int lost;                  /* the journal is lost to this run (journal.h: lost) */
  struct { char *name; long long key; } locks[MAX_LOCKS];
  int lk_backend;            /* the lock connection's server process */
  long long fence;           /* the key lock the run's writes need held (0: none) */
  char *run_id;              /* the run this process began, and its attempt and starter */
  long long attempt;
  char starter[320];
  tr_held recs;              /* steps that are not durable, until written (as in SQLite) */
  double held;
  tr_buf batch;              /* the JSON of the rows being written */
};

/* ---- journal_pg_conn.c ---- */

/* Epoch seconds. */
double tr_pg_now(void);
/* Sets the error, redacted (libpq's messages may quote what they were given), on one line.
 * Returns -1. */
int tr_pg_fail(tr_journal *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Marks the journal lost to the run (journal.h: lost). Returns -1. */
int tr_pg_lose(tr_journal *j);
/* A column of a result: a copy of its text (NULL for NULL), epoch seconds (-1 for NULL), an
 * integer (-1 for NULL). */
char *tr_pg_dup(const PGresult *r, int row, int col);
double tr_pg_time(const PGresult *r, int row, int col);
long long tr_pg_int(const PGresult *r, int row, int col);
/* Waits before trying again, from the first failure (*since, 0 before it) up to the retry
 * bound, saying so once. Returns 0 to try again, or -1 (the journal lost) with the error set. */
int tr_pg_retry_wait(tr_journal *j, double *since, int *tries, const char *why);
/* A new connection, the journal's (lock 0) or the locks' (lock 1); NULL with the message in msg
 * and *transient set when trying again may help. */
PGconn *tr_pg_connect(tr_journal *j, int lock, char *msg, size_t n, int *transient);
/* Runs sql on the journal's connection, sent again while the database is unreachable (within
 * the bound); `write`: a write of the run, which first checks its locks. The result (PQclear
 * it), or NULL with the error set. */
PGresult *tr_pg_sql(tr_journal *j, const char *what, int write, const char *sql, int nparams,
                    const char *const *params);

/* ---- journal_pg_lock.c ---- */

/* The advisory lock key of a name in this journal's schema. */
long long tr_pg_lock_key(tr_journal *j, const char *name);
/* The tr_journal_ops of locks (journal.h). */
int tr_pg_lock(tr_journal *j, const char *name, double wait, tr_journal_holder *holder);
void tr_pg_unlock(tr_journal *j, const char *name);
int tr_pg_held(tr_journal *j, const char *name);
int tr_pg_watch(tr_journal *j, double *next_in);
int tr_pg_lost(tr_journal *j);
/* Whether the locks are still held as far as this end can tell; a lost lock connection is
 * taken again if it can be. 0, or -1 with the journal lost. */
int tr_pg_locks_ok(tr_journal *j);
/* A fenced write came back refused: takes the locks again (0: send it again) or -1, lost. */
int tr_pg_fence_failed(tr_journal *j);
/* The fence's statement parameters (32 bytes each): the lock connection's backend and the key
 * lock, "0" when there is none. */
void tr_pg_fence_params(tr_journal *j, char *backend, char *key);

#endif
