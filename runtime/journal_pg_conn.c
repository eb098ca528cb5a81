/* The PostgreSQL journal's connections (journal_pg.h): opening them with taskrun's settings,
 * running statements through outages within TASKRUN_JOURNAL_RETRY, and errors a person may
 * read (redacted). */
#include "journal_pg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "signals.h"

double tr_pg_now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

int tr_pg_fail(tr_journal *j, const char *fmt, ...) {
  char msg[sizeof j->err];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* libpq ends its messages with a newline and puts details on lines of their own, indented. */
  char *w = msg;
  for (const char *p = msg; *p; p++) {
    if (*p != '\n' && *p != '\t') *w++ = *p;
    else if (p[1] && p[1] != '\n' && p[1] != '\t' && w > msg && w[-1] != ' ') *w++ = ' ';
  }
  *w = '\0';
  size_t n;
  char *clean = tr_redact(msg, strlen(msg), &n);
  snprintf(j->err, sizeof j->err, "%s", clean ? clean : "journal: out of memory");
  free(clean);
  return -1;
}

int tr_pg_lose(tr_journal *j) {
  j->lost = 1;
  return -1;
}

char *tr_pg_dup(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

double tr_pg_time(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? -1 : strtod(PQgetvalue(r, row, col), NULL);
}

long long tr_pg_int(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? -1 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void quiet_notices(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* Whether a failed connection may succeed if tried again: the server is (re)starting,
 * shutting down, unreachable for now, or out of connection slots. */
static int transient_connect(const char *msg) {
  static const char *const signs[] = {
    "Connection refused", "starting up", "shutting down", "in recovery", "timeout expired",
    "closed the connection unexpectedly", "Network is unreachable", "No route to host",
    "No such file or directory", "too many clients", "could not receive data",
    "could not send data", "Connection reset", "terminating connection",
    "remaining connection slots", "Connection timed out",
  };
  for (size_t i = 0; i < sizeof signs / sizeof signs[0]; i++)
    if (strstr(msg, signs[i])) return 1;
  return 0;
}

/* Whether a failed statement may succeed if sent again: the connection broke, the server is
 * going down or starting, or it was a serialization failure or deadlock. */
static int transient_result(PGconn *c, const PGresult *r) {
  if (PQstatus(c) != CONNECTION_OK) return 1;
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (!state) return !r;
  return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
         strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
         strcmp(state, "53300") == 0 || strcmp(state, "40001") == 0 ||
         strcmp(state, "40P01") == 0;
}

/* Waits before trying again, from the first failure (*since, 0 before it) up to the retry
 * bound; says so once. Returns 0 to try again, or -1 (the journal lost: past the bound, or a
 * signal came) with the error set from `why`. */
int tr_pg_retry_wait(tr_journal *j, double *since, int *tries, const char *why) {
  double t = tr_pg_now();
  if (*since == 0) {
    *since = t;
    if (j->retry > 0) {
      char msg[sizeof j->err + 128];
      snprintf(msg, sizeof msg, "the journal's database is unreachable (%s): retrying for up "
               "to %gs", why, j->retry);
      tr_pg_fail(j, "%s", msg);
      tr_logf(TR_LOG_WARN, "%s", j->err);
    }
  }
  if (t - *since >= j->retry || tr_signals_pending()) {
    tr_pg_fail(j, "journal: the database stayed unreachable for %gs (TASKRUN_JOURNAL_RETRY): %s",
               t - *since, why);
    return tr_pg_lose(j);
  }
  double nap = 0.05 * (1 << (*tries < 5 ? *tries : 5));   /* 50 ms, doubling up to 1.6 s */
  if (nap > *since + j->retry - t) nap = *since + j->retry - t;
  (*tries)++;
  struct timespec ts = { (time_t)nap, (long)((nap - (double)(time_t)nap) * 1e9) };
  nanosleep(&ts, NULL);
  return 0;
}

/* A new connection: the journal's (lock 0) or the locks' (lock 1). The URL's own settings win
 * over the defaults given here (they come after them). Returns it, or NULL with the message in
 * msg and *transient set when trying again may help. */
PGconn *tr_pg_connect(tr_journal *j, int lock, char *msg, size_t n, int *transient) {
  const char *keys[] = { "application_name", "connect_timeout", "keepalives", "keepalives_idle",
                         "keepalives_interval", "keepalives_count", "dbname", NULL };
  /* The lock connection notices a silent peer sooner than the server does (server: 5 + 2 * 3
   * s, below): a partitioned host stops before another can take its keys. */
  /* pg_stat_activity shows whose sessions these are: "taskrun[PID]" and "taskrun[PID] locks". */
  char app[64];
  snprintf(app, sizeof app, "taskrun[%lld]%s", (long long)getpid(), lock ? " locks" : "");
  const char *vals[] = { app, "10", "1", lock ? "4" : "10", "2", lock ? "2" : "3", j->url, NULL };
  *transient = 0;
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (!c || PQstatus(c) != CONNECTION_OK) {
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    snprintf(msg, n, "%s", m);
    *transient = c && transient_connect(m);
    PQfinish(c);
    return NULL;
  }
  PQsetNoticeProcessor(c, quiet_notices, NULL);
  /* One round trip. The lock session: the server drops a silent host's session, and so its
   * locks, within about 11 s, and never times an idle one out (idle_session_timeout: 14 and
   * later). */
  char sql[900];
  snprintf(sql, sizeof sql, "SET search_path TO %s; SET synchronous_commit TO %s%s%s",
           j->schema_q, lock ? "off" : "on",   /* a holders row is no promise to keep */
           lock ? "; SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; "
           "SET tcp_keepalives_count = 3; SET statement_timeout = 0" : "",
           lock && PQserverVersion(c) >= 140000 ? "; SET idle_session_timeout = 0" : "");
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) snprintf(msg, n, "%s", PQresultErrorMessage(r));
  PQclear(r);
  if (!ok) {
    *transient = PQstatus(c) != CONNECTION_OK;
    PQfinish(c);
    return NULL;
  }
  return c;
}

/* Makes sure the journal's connection is up, reconnecting within the retry bound. */
static int ensure_db(tr_journal *j, double *since, int *tries) {
  while (!j->db || PQstatus(j->db) != CONNECTION_OK) {
    char msg[768];
    int transient;
    PQfinish(j->db);
    if ((j->db = tr_pg_connect(j, 0, msg, sizeof msg, &transient))) return 0;
    if (!transient) return tr_pg_fail(j, "journal: cannot connect: %s", msg);
    if (tr_pg_retry_wait(j, since, tries, msg) != 0) return -1;
  }
  return 0;
}

/* Runs sql with its text parameters on the journal's connection (synchronous_commit on, unless
 * the statement sets it off for itself), sending it again while the database is unreachable
 * (within the bound). `write`: a write of the run, which first checks its locks. Returns the
 * result (PQclear it), or NULL with the error set. */
PGresult *tr_pg_sql(tr_journal *j, const char *what, int write, const char *sql,
                    int nparams, const char *const *params) {
  double since = 0;
  int tries = 0;
  if (j->lost) return NULL;
  for (;;) {
    if (write && tr_pg_locks_ok(j) != 0) return NULL;
    if (ensure_db(j, &since, &tries) != 0) return NULL;
    PGresult *r = PQexecParams(j->db, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    int again = transient_result(j->db, r);
    char msg[768];
    snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(j->db));
    PQclear(r);
    if (!again) {
      tr_pg_fail(j, "journal: %s: %s", what, msg);
      return NULL;
    }
    if (tr_pg_retry_wait(j, &since, &tries, msg) != 0) return NULL;
  }
}
