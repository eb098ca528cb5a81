/* The PostgreSQL journal's locks (journal_pg.h): session advisory locks on a connection of
 * their own, the holders rows that name who holds them, the watch that notices a lost lock
 * connection and takes the locks again when nobody else did, and the fence: the parameters by
 * which the server applies a run's writes only while its key lock is held. */
#include "journal_pg.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"

/* How often watch() looks at the lock connection's socket (a read without blocking). */
#define WATCH_EVERY 0.5

/* The advisory lock key of a name: a 64-bit hash of the schema and the name, so that journals in
 * two schemas of one database keep their locks apart. */
long long tr_pg_lock_key(tr_journal *j, const char *name) {
  uint64_t h = tr_fnv1a64(TR_FNV1A64_INIT, j->schema, strlen(j->schema) + 1);
  h = tr_fnv1a64(h, name, strlen(name));
  return (long long)h;
}

static int nlocks(tr_journal *j) {
  int n = 0;
  for (int i = 0; i < MAX_LOCKS; i++) n += j->locks[i].name != NULL;
  return n;
}

/* Runs sql on the lock connection (connecting it if need be); NULL with the error set. */
static PGresult *lk_sql(tr_journal *j, const char *what, const char *sql, int nparams,
                        const char *const *params) {
  if (!j->lk || PQstatus(j->lk) != CONNECTION_OK) {
    double since = 0;
    int tries = 0, transient;
    char msg[768];
    PQfinish(j->lk);
    while (!(j->lk = tr_pg_connect(j, 1, msg, sizeof msg, &transient))) {
      if (!transient) {
        tr_pg_fail(j, "journal: cannot connect: %s", msg);
        return NULL;
      }
      if (tr_pg_retry_wait(j, &since, &tries, msg) != 0) return NULL;
    }
    j->lk_backend = PQbackendPID(j->lk);
  }
  PGresult *r = PQexecParams(j->lk, sql, nparams, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  tr_pg_fail(j, "journal: %s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(j->lk));
  PQclear(r);
  return NULL;
}

/* Tries to take the lock `key` on the lock connection and, when taken, records this process
 * as its holder, for whoever finds it taken: in one statement. Returns 1 taken, 0 held by
 * another session, -1 on an error. */
static int try_lock(tr_journal *j, const char *name, long long key) {
  char k[32], pid[32], t[64], host[256] = "";
  gethostname(host, sizeof host - 1);
  snprintf(k, sizeof k, "%lld", key);
  snprintf(pid, sizeof pid, "%lld", (long long)getpid());
  snprintf(t, sizeof t, "%.6f", tr_pg_now());
  const char *p[] = { k, name, host, pid, t };
  PGresult *r = lk_sql(j, "take a lock", "WITH l AS (SELECT pg_try_advisory_lock($1) AS got), "
                       "h AS (INSERT INTO holders (lock_key, name, host, pid, started, backend) "
                       "SELECT $1, $2, $3, $4, $5, pg_backend_pid() FROM l WHERE l.got ON "
                       "CONFLICT (lock_key) DO UPDATE SET name = $2, host = $3, pid = $4, "
                       "started = $5, backend = pg_backend_pid()) SELECT got FROM l", 5, p);
  if (!r) return -1;
  int got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  return got;
}

/* Fills holder from the holders row of whoever holds `key` now. The winner of a race writes
 * its row just after taking the lock: a loser that looks in between waits for it a little. */
static int read_holder(tr_journal *j, long long key, tr_journal_holder *holder) {
  char k[32];
  snprintf(k, sizeof k, "%lld", key);
  const char *p[] = { k };
  memset(holder, 0, sizeof *holder);
  for (int tries = 0; tries < 40; tries++) {
    PGresult *r = lk_sql(j, "read a lock's holder", "SELECT host, pid, started, lock_pid($1) "
                         "IS NULL FROM (SELECT 1) one LEFT JOIN holders ON lock_key = $1 AND "
                         "backend = lock_pid($1)", 1, p);
    if (!r) return -1;
    int free_now = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 3), "t") == 0;
    int found = PQntuples(r) == 1 && !PQgetisnull(r, 0, 1);
    if (found) {
      snprintf(holder->host, sizeof holder->host, "%s", PQgetvalue(r, 0, 0));
      holder->pid = tr_pg_int(r, 0, 1);
      holder->started = tr_pg_time(r, 0, 2);
    }
    PQclear(r);
    if (found || free_now) return 0;
    struct timespec ts = { 0, 25 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  return 0;
}

int tr_pg_lock(tr_journal *j, const char *name, double wait, tr_journal_holder *holder) {
  int slot = -1;
  for (int i = 0; i < MAX_LOCKS; i++)
    if (!j->locks[i].name) { slot = i; break; }
  if (slot < 0) return tr_pg_fail(j, "too many locks");
  long long key = tr_pg_lock_key(j, name);
  double until = tr_pg_now() + (wait > 0 ? wait : 0);
  for (;;) {
    int got = try_lock(j, name, key);
    if (got < 0) return -1;
    if (got) break;
    if (tr_pg_now() >= until) return read_holder(j, key, holder) == 0 ? 1 : -1;
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  if (!(j->locks[slot].name = strdup(name))) return tr_pg_fail(j, "journal: out of memory");
  j->locks[slot].key = key;
  if (!j->fence && strncmp(name, "key:", 4) == 0) j->fence = key;
  return 0;
}

void tr_pg_unlock(tr_journal *j, const char *name) {
  for (int i = 0; i < MAX_LOCKS; i++) {
    if (!j->locks[i].name || strcmp(j->locks[i].name, name) != 0) continue;
    char k[32];
    snprintf(k, sizeof k, "%lld", j->locks[i].key);
    const char *p[] = { k };
    if (j->lk && PQstatus(j->lk) == CONNECTION_OK) {
      PQclear(PQexecParams(j->lk, "DELETE FROM holders WHERE lock_key = $1 AND backend = "
                           "pg_backend_pid()", 1, NULL, p, NULL, NULL, 0));
      PQclear(PQexecParams(j->lk, "SELECT pg_advisory_unlock($1)", 1, NULL, p, NULL, NULL, 0));
    }
    if (j->fence == j->locks[i].key) j->fence = 0;
    free(j->locks[i].name);
    j->locks[i].name = NULL;
  }
}

int tr_pg_held(tr_journal *j, const char *name) {
  for (int i = 0; i < MAX_LOCKS; i++)
    if (j->locks[i].name && strcmp(j->locks[i].name, name) == 0) return 1;
  char k[32];
  snprintf(k, sizeof k, "%lld", tr_pg_lock_key(j, name));
  const char *p[] = { k };
  PGresult *r = tr_pg_sql(j, "test a lock", 0, "SELECT lock_pid($1) IS NOT NULL", 1, p);
  if (!r) return -1;
  int held = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  return held;
}

/* The lock connection is gone: takes every lock again, within the retry bound, if nobody took
 * one meanwhile and the run's row still names this process's start. Else the journal is lost. */
static int take_again(tr_journal *j, const char *why) {
  tr_logf(TR_LOG_WARN, "journal: the connection holding the run's locks was lost (%s): taking "
          "them again", why);
  PQfinish(j->lk);
  j->lk = NULL;
  for (int i = 0; i < MAX_LOCKS; i++) {
    if (!j->locks[i].name) continue;
    int got = try_lock(j, j->locks[i].name, j->locks[i].key);
    if (got < 0) return tr_pg_lose(j);
    if (!got) {
      tr_pg_fail(j, "journal: the lock \"%s\" was lost (%s) and another process holds it now",
                 j->locks[i].name, why);
      return tr_pg_lose(j);
    }
  }
  if (!j->run_id) return 0;
  const char *p[] = { j->run_id };
  PGresult *r = tr_pg_sql(j, "read the run", 0, "SELECT attempt, starter, status FROM runs "
                          "WHERE id = $1", 1, p);
  if (!r) return tr_pg_lose(j);
  int same = PQntuples(r) == 1 && tr_pg_int(r, 0, 0) == j->attempt &&
             strcmp(PQgetvalue(r, 0, 1), j->starter) == 0 &&
             strcmp(PQgetvalue(r, 0, 2), TR_RUN_RUNNING) == 0;
  PQclear(r);
  if (!same) {
    tr_pg_fail(j, "journal: the run's lock was lost (%s) and another process began an attempt of "
               "it meanwhile", why);
    return tr_pg_lose(j);
  }
  return 0;
}

/* Whether the locks are still held, as far as this end can tell without a round trip: the lock
 * connection's socket has nothing to say (a server that ends a session says so, then closes).
 * A lost connection is taken again (take_again). */
int tr_pg_locks_ok(tr_journal *j) {
  if (j->lost) return -1;
  if (!nlocks(j)) return 0;
  if (j->lk && PQstatus(j->lk) == CONNECTION_OK) {
    struct pollfd pfd = { PQsocket(j->lk), POLLIN, 0 };
    int ready = pfd.fd >= 0 ? poll(&pfd, 1, 0) : 1;
    if (ready == 0) return 0;
    /* Data on an idle connection is the server's goodbye (or a notice): read it all. */
    for (int i = 0; i < 4 && PQstatus(j->lk) == CONNECTION_OK; i++) {
      if (!PQconsumeInput(j->lk)) break;
      PGresult *r;
      while ((r = PQgetResult(j->lk))) PQclear(r);
      pfd.revents = 0;
      if (poll(&pfd, 1, 0) == 0) break;
    }
    if (PQstatus(j->lk) == CONNECTION_OK) return 0;
  }
  char why[256];
  snprintf(why, sizeof why, "%s", j->lk ? PQerrorMessage(j->lk) : "not connected");
  why[strcspn(why, "\n")] = '\0';   /* its first line says it */
  return take_again(j, *why ? why : "the server closed it");
}

int tr_pg_watch(tr_journal *j, double *next_in) {
  *next_in = nlocks(j) ? WATCH_EVERY : -1;
  return tr_pg_locks_ok(j);
}

int tr_pg_lost(tr_journal *j) {
  return j->lost;
}

/* A write the server refused because the lock connection's backend no longer holds the key
 * lock: the lock connection is taken again (or the journal lost), and the write may be sent
 * again. */
int tr_pg_fence_failed(tr_journal *j) {
  PQfinish(j->lk);
  j->lk = NULL;
  return take_again(j, "the server no longer saw it held");
}

/* The fence's parameters: the lock connection's backend and the key lock ("0" when none). */
void tr_pg_fence_params(tr_journal *j, char *backend, char *key) {
  snprintf(backend, 32, "%d", j->fence ? j->lk_backend : 0);
  snprintf(key, 32, "%lld", j->fence);
}
