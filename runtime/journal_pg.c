/* The journal in PostgreSQL (Debian's libpq), for a fleet of hosts that share one database: a
 * run started on any host resumes what another host began, and one runner per key holds
 * across all of them.
 *
 * Tables live in one schema (TASKRUN_JOURNAL_SCHEMA, default "taskrun"), created and migrated
 * by taskrun itself (the meta table holds the version; a newer one is refused, never rewritten).
 * Every session sets its search_path to that schema, so the statements below name tables bare.
 *
 * Locks are session advisory locks (pg_try_advisory_lock on a 64-bit hash of the schema and
 * the lock's name), held on a connection of their own that does nothing else: the server drops
 * them when that connection ends, so a host that dies (its socket closed, or silent past the
 * TCP keepalives set on both ends) frees its keys for the next start anywhere. A row of the
 * holders table, written after the lock is taken, names the holder's host and pid for whoever
 * finds the lock taken. Two things keep two hosts from running one key:
 *   - the lock connection is checked before every write and on a timer (watch): a lost one
 *     is taken again if nobody else took the locks meanwhile and the run's row still names
 *     this start (no other host began an attempt), else the journal is lost to the run, which
 *     stops (exit 75) and writes nothing more;
 *   - every write of the run's steps and end carries the check to the server: it is applied
 *     only while the lock connection's backend holds the run's key lock (holds()), so a write
 *     that reaches the server after another host took the key over is refused.
 *
 * Writes retry while the database is unreachable (a restart, a fail-over), for up to
 * TASKRUN_JOURNAL_RETRY (default 30 s) from the first failure: the run waits there, and goes on
 * when the database is back. Past the bound the journal is lost to the run. Every write is
 * safe to send twice: steps are upserts, a run's start is recognized by its starter token.
 *
 * Durability as the interface promises: a durable write commits with synchronous_commit on;
 * other writes (explicit steps, waits) are held in memory and written together, as one
 * statement, with synchronous_commit off: on the server once it answers (the process's death
 * cannot lose them), on disk by the server's next WAL flush. */
#include "journal.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "escape.h"
#include "hash.h"
#include "log.h"
#include "signals.h"

#define SCHEMA_VERSION 1
#define MAX_LOCKS 8
#define MAX_HELD_ROWS 64
/* How long a write may wait for an unreachable database, unless TASKRUN_JOURNAL_RETRY says. */
#define DEFAULT_RETRY 30.0
/* How often watch() looks at the lock connection's socket (a read without blocking). */
#define WATCH_EVERY 0.5

/* Version 1. Times are epoch seconds as the client saw them (as in SQLite's journal). */
static const char migration_1[] =
  "CREATE TABLE runs ("
  "  id bigserial PRIMARY KEY,"
  "  key text NOT NULL,"
  "  script text,"
  "  args text NOT NULL,"
  "  status text NOT NULL,"
  "  attempt bigint NOT NULL,"
  "  started double precision NOT NULL,"
  "  ended double precision,"
  "  exit_code integer,"
  "  pid bigint,"
  "  host text,"
  "  script_hash text,"
  "  starter text);"              /* who began the latest attempt: host, pid, time */
  "CREATE INDEX runs_key ON runs (key, id);"
  "CREATE TABLE attempts ("
  "  run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
  "  attempt bigint NOT NULL,"
  "  host text,"
  "  pid bigint,"
  "  started double precision NOT NULL,"
  "  ended double precision,"
  "  status text,"
  "  exit_code integer,"
  "  PRIMARY KEY (run_id, attempt));"
  "CREATE TABLE steps ("
  "  run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
  "  step_key text NOT NULL,"
  "  seq bigint NOT NULL,"
  "  state text NOT NULL,"
  "  started double precision NOT NULL,"
  "  ended double precision,"
  "  result text,"
  "  error text,"
  "  created_id text,"
  "  resolution text,"
  "  ord bigint GENERATED ALWAYS AS IDENTITY,"
  "  PRIMARY KEY (run_id, step_key, seq));"
  "CREATE INDEX steps_created ON steps (created_id) WHERE created_id IS NOT NULL;"
  "CREATE TABLE holders ("
  "  lock_key bigint PRIMARY KEY,"
  "  name text NOT NULL,"
  "  host text,"
  "  pid bigint,"
  "  started double precision,"
  "  backend integer);"
  /* The backend holding the advisory lock `key` in this database, or NULL. */
  "CREATE FUNCTION lock_pid(key bigint) RETURNS integer LANGUAGE sql STABLE AS $$"
  "  SELECT pid FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted"
  "    AND objsubid = 1 AND classid = ((key >> 32) & 4294967295)::oid"
  "    AND objid = (key & 4294967295)::oid AND database = (SELECT oid FROM"
  "    pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) LIMIT 1 $$;"
  "CREATE FUNCTION holds(backend integer, key bigint) RETURNS boolean LANGUAGE sql STABLE AS $$"
  "  SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted"
  "    AND pid = backend AND objsubid = 1 AND classid = ((key >> 32) & 4294967295)::oid"
  "    AND objid = (key & 4294967295)::oid AND database = (SELECT oid FROM"
  "    pg_catalog.pg_database WHERE datname = pg_catalog.current_database())) $$;"
  /* A run's start, as one statement (the caller holds the key lock). A start sent again after
   * its answer was lost finds its own starter token and changes nothing. */
  "CREATE FUNCTION begin_run(p_key text, p_script text, p_args text, p_hash text,"
  "    p_fresh boolean, p_pid bigint, p_host text, p_starter text, p_now double precision)"
  "  RETURNS SETOF runs LANGUAGE plpgsql SET search_path FROM CURRENT AS $$"
  "DECLARE last runs%ROWTYPE; new_id bigint;"
  "BEGIN"
  "  SELECT * INTO last FROM runs WHERE key = p_key ORDER BY id DESC LIMIT 1 FOR UPDATE;"
  "  IF FOUND AND last.starter = p_starter THEN"
  "    RETURN QUERY SELECT * FROM runs WHERE id = last.id; RETURN;"
  "  END IF;"
  "  IF FOUND AND last.status IN ('" TR_RUN_RUNNING "', '" TR_RUN_INTERRUPTED "', '"
  TR_RUN_IN_DOUBT "') THEN"
  "    IF NOT p_fresh THEN"
  "      UPDATE runs SET status = '" TR_RUN_RUNNING "', attempt = attempt + 1, ended = NULL,"
  "        exit_code = NULL, pid = p_pid, host = p_host, script = p_script, args = p_args,"
  "        script_hash = coalesce(script_hash, p_hash), starter = p_starter WHERE id = last.id;"
  "      INSERT INTO attempts (run_id, attempt, host, pid, started)"
  "        VALUES (last.id, last.attempt + 1, p_host, p_pid, p_now);"
  "      RETURN QUERY SELECT * FROM runs WHERE id = last.id; RETURN;"
  "    END IF;"
  "    UPDATE runs SET status = '" TR_RUN_ABANDONED "', ended = p_now WHERE id = last.id;"
  "  END IF;"
  "  INSERT INTO runs (key, script, args, status, attempt, started, pid, host, script_hash,"
  "    starter) VALUES (p_key, p_script, p_args, '" TR_RUN_RUNNING "', 1, p_now, p_pid, p_host,"
  "    p_hash, p_starter) RETURNING id INTO new_id;"
  "  INSERT INTO attempts (run_id, attempt, host, pid, started)"
  "    VALUES (new_id, 1, p_host, p_pid, p_now);"
  "  RETURN QUERY SELECT * FROM runs WHERE id = new_id;"
  "END $$;";

static const char *const migrations[] = { migration_1 };

struct held_row {
  char *key, *result, *error, *created_id;
  const char *state;
  long long seq;
  double started, ended;   /* < 0: none (an end whose start was written before) */
};

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
  double next_watch;
  struct held_row *rows;     /* steps that are not durable, until written (as in SQLite) */
  size_t nrows, cap_rows;
  char *held_run;
  double held;
  tr_buf batch;              /* the JSON of the rows being written */
};

static double now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Sets the error (redacted: libpq's own messages may quote what they were given). */
static int fail(tr_journal *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(tr_journal *j, const char *fmt, ...) {
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

static int lose(tr_journal *j) {
  j->lost = 1;
  return -1;
}

static char *dup_value(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static double time_value(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? -1 : strtod(PQgetvalue(r, row, col), NULL);
}

static long long int_value(const PGresult *r, int row, int col) {
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
static int retry_wait(tr_journal *j, double *since, int *tries, const char *why) {
  double t = now();
  if (*since == 0) {
    *since = t;
    if (j->retry > 0) {
      char msg[sizeof j->err + 128];
      snprintf(msg, sizeof msg, "the journal's database is unreachable (%s): retrying for up "
               "to %gs", why, j->retry);
      fail(j, "%s", msg);
      tr_logf(TR_LOG_WARN, "%s", j->err);
    }
  }
  if (t - *since >= j->retry || tr_signals_pending()) {
    fail(j, "journal: the database stayed unreachable for %gs (TASKRUN_JOURNAL_RETRY): %s",
         t - *since, why);
    return lose(j);
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
static PGconn *connect_db(tr_journal *j, int lock, char *msg, size_t n, int *transient) {
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
    if ((j->db = connect_db(j, 0, msg, sizeof msg, &transient))) return 0;
    if (!transient) return fail(j, "journal: cannot connect: %s", msg);
    if (retry_wait(j, since, tries, msg) != 0) return -1;
  }
  return 0;
}

static int locks_ok(tr_journal *j);

/* Runs sql with its text parameters on the journal's connection (synchronous_commit on, unless
 * the statement sets it off for itself), sending it again while the database is unreachable
 * (within the bound). `write`: a write of the run, which first checks its locks. Returns the
 * result (PQclear it), or NULL with the error set. */
static PGresult *run_sql(tr_journal *j, const char *what, int write, const char *sql,
                         int nparams, const char *const *params) {
  double since = 0;
  int tries = 0;
  if (j->lost) return NULL;
  for (;;) {
    if (write && locks_ok(j) != 0) return NULL;
    if (ensure_db(j, &since, &tries) != 0) return NULL;
    PGresult *r = PQexecParams(j->db, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    int again = transient_result(j->db, r);
    char msg[768];
    snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(j->db));
    PQclear(r);
    if (!again) {
      fail(j, "journal: %s: %s", what, msg);
      return NULL;
    }
    if (retry_wait(j, &since, &tries, msg) != 0) return NULL;
  }
}

/* ---- locks ---- */

/* The advisory lock key of a name: a 64-bit hash of the schema and the name, so that journals in
 * two schemas of one database keep their locks apart. */
static long long lock_key(tr_journal *j, const char *name) {
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
    while (!(j->lk = connect_db(j, 1, msg, sizeof msg, &transient))) {
      if (!transient) {
        fail(j, "journal: cannot connect: %s", msg);
        return NULL;
      }
      if (retry_wait(j, &since, &tries, msg) != 0) return NULL;
    }
    j->lk_backend = PQbackendPID(j->lk);
  }
  PGresult *r = PQexecParams(j->lk, sql, nparams, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  fail(j, "journal: %s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(j->lk));
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
  snprintf(t, sizeof t, "%.6f", now());
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
      holder->pid = int_value(r, 0, 1);
      holder->started = time_value(r, 0, 2);
    }
    PQclear(r);
    if (found || free_now) return 0;
    struct timespec ts = { 0, 25 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  return 0;
}

static int pg_lock(tr_journal *j, const char *name, double wait, tr_journal_holder *holder) {
  int slot = -1;
  for (int i = 0; i < MAX_LOCKS; i++)
    if (!j->locks[i].name) { slot = i; break; }
  if (slot < 0) return fail(j, "too many locks");
  long long key = lock_key(j, name);
  double until = now() + (wait > 0 ? wait : 0);
  for (;;) {
    int got = try_lock(j, name, key);
    if (got < 0) return -1;
    if (got) break;
    if (now() >= until) return read_holder(j, key, holder) == 0 ? 1 : -1;
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  if (!(j->locks[slot].name = strdup(name))) return fail(j, "journal: out of memory");
  j->locks[slot].key = key;
  if (!j->fence && strncmp(name, "key:", 4) == 0) j->fence = key;
  return 0;
}

static void pg_unlock(tr_journal *j, const char *name) {
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

static int pg_held(tr_journal *j, const char *name) {
  for (int i = 0; i < MAX_LOCKS; i++)
    if (j->locks[i].name && strcmp(j->locks[i].name, name) == 0) return 1;
  char k[32];
  snprintf(k, sizeof k, "%lld", lock_key(j, name));
  const char *p[] = { k };
  PGresult *r = run_sql(j, "test a lock", 0, "SELECT lock_pid($1) IS NOT NULL", 1, p);
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
    if (got < 0) return lose(j);
    if (!got) {
      fail(j, "journal: the lock \"%s\" was lost (%s) and another process holds it now", 
           j->locks[i].name, why);
      return lose(j);
    }
  }
  if (!j->run_id) return 0;
  const char *p[] = { j->run_id };
  PGresult *r = run_sql(j, "read the run", 0, "SELECT attempt, starter, status FROM runs "
                        "WHERE id = $1", 1, p);
  if (!r) return lose(j);
  int same = PQntuples(r) == 1 && int_value(r, 0, 0) == j->attempt &&
             strcmp(PQgetvalue(r, 0, 1), j->starter) == 0 &&
             strcmp(PQgetvalue(r, 0, 2), TR_RUN_RUNNING) == 0;
  PQclear(r);
  if (!same) {
    fail(j, "journal: the run's lock was lost (%s) and another process began an attempt of "
         "it meanwhile", why);
    return lose(j);
  }
  return 0;
}

/* Whether the locks are still held, as far as this end can tell without a round trip: the lock
 * connection's socket has nothing to say (a server that ends a session says so, then closes).
 * A lost connection is taken again (take_again). */
static int locks_ok(tr_journal *j) {
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

static int pg_watch(tr_journal *j, double *next_in) {
  *next_in = nlocks(j) ? WATCH_EVERY : -1;
  return locks_ok(j);
}

static int pg_lost(tr_journal *j) {
  return j->lost;
}

/* A write the server refused because the lock connection's backend no longer holds the key
 * lock: the lock connection is taken again (or the journal lost), and the write may be sent
 * again. */
static int fence_failed(tr_journal *j) {
  PQfinish(j->lk);
  j->lk = NULL;
  return take_again(j, "the server no longer saw it held");
}

/* ---- opening ---- */

/* The schema's version: 0 when there is none yet, -1 on an error. */
static int read_version(tr_journal *j) {
  PGresult *r = run_sql(j, "read the schema's version", 0,
                        "SELECT coalesce(max(version), 0) FROM meta", 0, NULL);
  if (r) {
    int v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
  }
  return strstr(j->err, "does not exist") ? 0 : -1;
}

/* Creates the schema or brings it up to SCHEMA_VERSION, in one transaction that holds a
 * transaction advisory lock: ten hosts starting at once on a new database migrate it once. */
static int migrate(tr_journal *j) {
  int v = read_version(j);
  if (v < 0) return -1;
  if (v > SCHEMA_VERSION)
    return fail(j, "the journal in schema %s was written by a newer taskrun (schema %d; this one "
                "knows %d)", j->schema, v, SCHEMA_VERSION);
  if (v == SCHEMA_VERSION) return 0;
  tr_buf sql = { 0 };
  char head[700];
  snprintf(head, sizeof head, "BEGIN; SELECT pg_advisory_xact_lock(%lld); CREATE SCHEMA IF NOT "
           "EXISTS %s; SET LOCAL search_path TO %s; CREATE TABLE IF NOT EXISTS meta (version "
           "integer NOT NULL)", lock_key(j, "migrate"), j->schema_q, j->schema_q);
  PGresult *r = PQexec(j->db, head);   /* then, under the lock, the version again */
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (ok) {
    r = PQexec(j->db, "SELECT coalesce(max(version), 0) FROM meta");
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (ok) v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  for (int k = v; ok && k < SCHEMA_VERSION; k++) tr_buf_puts(&sql, migrations[k]);
  char tail[128];
  snprintf(tail, sizeof tail, "DELETE FROM meta; INSERT INTO meta VALUES (%d); COMMIT",
           SCHEMA_VERSION);
  tr_buf_puts(&sql, v < SCHEMA_VERSION ? tail : "COMMIT");
  tr_buf_put(&sql, "", 1);
  if (sql.failed) ok = 0;
  if (ok) {
    r = PQexec(j->db, sql.p);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) fail(j, "journal: cannot create its tables in schema %s: %s", j->schema,
                  PQresultErrorMessage(r));
    PQclear(r);
  } else {
    fail(j, "journal: cannot create schema %s: %s", j->schema, PQerrorMessage(j->db));
  }
  free(sql.p);
  if (!ok) PQclear(PQexec(j->db, "ROLLBACK"));
  return ok ? 0 : -1;
}

static void pg_close(tr_journal *j);

static tr_journal *pg_open(const char *url, char *err, size_t errlen, int *transient) {
  tr_journal *j = calloc(1, sizeof *j);
  const char *schema = getenv("TASKRUN_JOURNAL_SCHEMA");
  const char *retry = getenv("TASKRUN_JOURNAL_RETRY");
  *transient = 0;
  if (!j || !(j->url = strdup(url)) ||
      !(j->schema = strdup(schema && *schema ? schema : "taskrun"))) {
    snprintf(err, errlen, "out of memory");
    if (j) pg_close(j);
    return NULL;
  }
  j->retry = DEFAULT_RETRY;
  if (retry && *retry && (tr_duration_parse(retry, &j->retry) != 0 || j->retry < 0)) {
    snprintf(err, errlen, "bad TASKRUN_JOURNAL_RETRY \"%.64s\": give a duration like 30s or 2m",
             retry);
    pg_close(j);
    return NULL;
  }
  /* The schema's name as an identifier: in double quotes, each one in it doubled. */
  tr_buf q = { 0 };
  tr_buf_puts(&q, "\"");
  for (const char *c = j->schema; *c; c++) {
    if (*c == '"') tr_buf_puts(&q, "\"");
    tr_buf_put(&q, c, 1);
  }
  tr_buf_put(&q, "\"", 2);
  if (q.failed) {
    free(q.p);
    snprintf(err, errlen, "out of memory");
    pg_close(j);
    return NULL;
  }
  j->schema_q = q.p;
  char msg[768];
  double since = 0;
  int tries = 0, again;
  while (!(j->db = connect_db(j, 0, msg, sizeof msg, &again))) {
    if (!again || retry_wait(j, &since, &tries, msg) != 0) {
      if (!again) fail(j, "cannot connect: %s", msg);
      *transient = again;
      snprintf(err, errlen, "%s", j->err);
      pg_close(j);
      return NULL;
    }
  }
  if (migrate(j) != 0) {
    *transient = j->lost;
    snprintf(err, errlen, "%s", j->err);
    pg_close(j);
    return NULL;
  }
  return j;
}

static int write_held(tr_journal *j, int sync);

static void free_row(struct held_row *h) {
  free(h->key);
  free(h->result);
  free(h->error);
  free(h->created_id);
}

static void pg_close(tr_journal *j) {
  if (!j) return;
  if (j->db && j->nrows && !j->lost) write_held(j, 0);
  for (size_t i = 0; i < j->nrows; i++) free_row(&j->rows[i]);
  free(j->rows);
  free(j->batch.p);
  free(j->held_run);
  for (int i = 0; i < MAX_LOCKS; i++) free(j->locks[i].name);
  /* The server drops the locks with the session, but only once its process has read the
   * goodbye: released here first, the next start (a cron run right after) finds them free. */
  if (j->lk && PQstatus(j->lk) == CONNECTION_OK && !j->lost)
    PQclear(PQexec(j->lk, "SELECT pg_advisory_unlock_all()"));
  PQfinish(j->lk);
  PQfinish(j->db);
  free(j->url);
  free(j->schema);
  free(j->schema_q);
  free(j->run_id);
  free(j);
}

static const char *pg_error(tr_journal *j) {
  return j->err;
}

/* ---- runs ---- */

#define RUN_COLS "id, key, script, args, status, attempt, started, ended, exit_code, pid, host, " \
  "script_hash"

static void read_run(const PGresult *r, int row, tr_journal_run *out) {
  out->id = dup_value(r, row, 0);
  out->key = dup_value(r, row, 1);
  out->script = dup_value(r, row, 2);
  out->args = dup_value(r, row, 3);
  out->status = dup_value(r, row, 4);
  out->attempt = int_value(r, row, 5);
  out->started = time_value(r, row, 6);
  out->ended = time_value(r, row, 7);
  out->exit_code = (int)int_value(r, row, 8);
  out->pid = int_value(r, row, 9);
  out->host = dup_value(r, row, 10);
  out->script_hash = dup_value(r, row, 11);
}

/* The one run sql returns into out: 0, 1 when none, -1 on an error. */
static int one_run(tr_journal *j, const char *sql, const char *arg, tr_journal_run *out) {
  const char *p[] = { arg };
  PGresult *r = run_sql(j, "read a run", 0, sql, 1, p);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) read_run(r, 0, out);
  PQclear(r);
  return found ? 0 : 1;
}

static int pg_run_begin(tr_journal *j, const char *key, const char *script,
                        const char *args_json, const char *script_hash, int fresh, long long pid,
                        const char *host, tr_journal_run *out, int *resumed) {
  memset(out, 0, sizeof *out);
  *resumed = 0;
  char spid[32], t[64];
  double start = now();
  snprintf(spid, sizeof spid, "%lld", pid);
  snprintf(t, sizeof t, "%.6f", start);
  snprintf(j->starter, sizeof j->starter, "%.200s %lld %.6f", host ? host : "", pid, start);
  const char *p[] = { key, script, args_json, script_hash, fresh ? "t" : "f", spid, host,
                      j->starter, t };
  PGresult *r = run_sql(j, "begin a run", 0, "SELECT " RUN_COLS " FROM begin_run($1, $2, $3, "
                        "$4, $5, $6, $7, $8, $9)", 9, p);
  if (!r) return -1;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return fail(j, "journal: the run just begun is gone");
  }
  read_run(r, 0, out);
  PQclear(r);
  *resumed = out->attempt > 1;
  free(j->run_id);
  j->run_id = strdup(out->id);
  j->attempt = out->attempt;
  return j->run_id ? 0 : fail(j, "journal: out of memory");
}

/* The fence's parameters: the lock connection's backend and the key lock ("0" when none). */
static void fence_params(tr_journal *j, char *backend, char *key) {
  snprintf(backend, 32, "%d", j->fence ? j->lk_backend : 0);
  snprintf(key, 32, "%lld", j->fence);
}

static int pg_run_end(tr_journal *j, const char *run_id, const char *status, int exit_code) {
  if (write_held(j, 1) != 0) return -1;
  char code[32], t[64], backend[32], key[32];
  snprintf(code, sizeof code, "%d", exit_code);
  snprintf(t, sizeof t, "%.6f", now());
  for (int again = 0; ; again++) {
    fence_params(j, backend, key);
    const char *p[] = { run_id, status, t, code, backend, key };
    PGresult *r = run_sql(j, "record a run's end", 1,
      "WITH g AS (SELECT ($5::integer = 0 OR holds($5::integer, $6::bigint)) AS ok), "
      "r AS (UPDATE runs SET status = $2, ended = $3, exit_code = $4 FROM g WHERE id = $1 AND "
      "g.ok RETURNING id, attempt), "
      "a AS (UPDATE attempts SET status = $2, ended = $3, exit_code = $4 FROM r WHERE "
      "attempts.run_id = r.id AND attempts.attempt = r.attempt) SELECT ok FROM g", 6, p);
    if (!r) return -1;
    int ok = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (ok) return 0;
    if (again || fence_failed(j) != 0) return -1;
  }
}

static int pg_attempts_list(tr_journal *j, const char *run_id, tr_journal_attempt_cb cb,
                            void *ud) {
  const char *p[] = { run_id };
  PGresult *r = run_sql(j, "list the attempts", 0, "SELECT attempt, host, pid, started, "
                        "ended, status, exit_code FROM attempts WHERE run_id::text = $1 ORDER "
                        "BY attempt", 1, p);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tr_journal_attempt a = { 0 };
    a.attempt = int_value(r, i, 0);
    a.host = dup_value(r, i, 1);
    a.pid = int_value(r, i, 2);
    a.started = time_value(r, i, 3);
    a.ended = time_value(r, i, 4);
    a.status = dup_value(r, i, 5);
    a.exit_code = (int)int_value(r, i, 6);
    int stop = cb(ud, &a);
    tr_journal_attempt_free(&a);
    if (stop) break;
  }
  PQclear(r);
  return 0;
}

static int pg_runs_list(tr_journal *j, tr_journal_run_cb cb, void *ud) {
  PGresult *r = run_sql(j, "list the runs", 0, "SELECT " RUN_COLS " FROM runs ORDER BY id",
                        0, NULL);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tr_journal_run run;
    read_run(r, i, &run);
    int stop = cb(ud, &run);
    tr_journal_run_free(&run);
    if (stop) break;
  }
  PQclear(r);
  return 0;
}

static int pg_run_get(tr_journal *j, const char *ref, tr_journal_run *out) {
  memset(out, 0, sizeof *out);
  int rc = one_run(j, "SELECT " RUN_COLS " FROM runs WHERE id::text = $1", ref, out);
  if (rc != 1) return rc;
  return one_run(j, "SELECT " RUN_COLS " FROM runs WHERE key = $1 ORDER BY id DESC LIMIT 1", ref,
                 out);
}

static int pg_prune(tr_journal *j, double before, long long *removed) {
  char t[64];
  snprintf(t, sizeof t, "%.6f", before);
  const char *p[] = { TR_RUN_FINISHED, TR_RUN_FAILED, t };
  *removed = 0;
  PGresult *r = run_sql(j, "prune", 0, "DELETE FROM runs WHERE status IN ($1, $2) AND ended "
                        "< $3", 3, p);
  if (!r) return -1;
  *removed = strtoll(PQcmdTuples(r), NULL, 10);
  PQclear(r);
  return 0;
}

/* ---- steps ---- */

static void put_json_text(tr_buf *b, const char *s) {
  if (!s) { tr_buf_puts(b, "null"); return; }
  tr_buf_puts(b, "\"");
  tr_escape_json(b, s, strlen(s), TR_JSON_LOG);
  tr_buf_puts(b, "\"");
}

static void put_json_time(tr_buf *b, double t) {
  char num[64];
  if (t < 0) snprintf(num, sizeof num, "null");
  else snprintf(num, sizeof num, "%.6f", t);
  tr_buf_puts(b, num);
}

/* Writes the held rows as one statement, synchronous_commit as `sync` says, applied only while
 * the run's key lock is held (see the top). A step's record replaces its row as SQLite's
 * replay does: a start starts it over, an end keeps the start's time. */
static int write_held(tr_journal *j, int sync) {
  if (!j->nrows) {
    j->held = 0;
    return 0;
  }
  tr_buf *b = &j->batch;
  b->n = 0;
  tr_buf_puts(b, "[");
  for (size_t i = 0; i < j->nrows; i++) {
    struct held_row *h = &j->rows[i];
    char seq[48];
    tr_buf_puts(b, i ? ",{\"k\":" : "{\"k\":");
    put_json_text(b, h->key);
    snprintf(seq, sizeof seq, ",\"s\":%lld,\"st\":", h->seq);
    tr_buf_puts(b, seq);
    put_json_text(b, h->state);
    tr_buf_puts(b, ",\"b\":");
    put_json_time(b, h->started);
    tr_buf_puts(b, ",\"e\":");
    put_json_time(b, h->ended);
    tr_buf_puts(b, ",\"res\":");
    put_json_text(b, h->result);
    tr_buf_puts(b, ",\"err\":");
    put_json_text(b, h->error);
    tr_buf_puts(b, ",\"c\":");
    put_json_text(b, h->created_id);
    tr_buf_puts(b, "}");
  }
  tr_buf_put(b, "]", 2);
  if (b->failed) {
    b->failed = 0;
    return fail(j, "journal: out of memory");
  }
  char backend[32], key[32];
  for (int again = 0; ; again++) {
    fence_params(j, backend, key);
    const char *p[] = { j->held_run, b->p, backend, key, sync ? "on" : "off" };
    /* synchronous_commit for this statement's own transaction only. */
    PGresult *r = run_sql(j, "record steps", 1,
      "WITH c AS (SELECT set_config('synchronous_commit', $5, true)), "
      "g AS (SELECT ($3::integer = 0 OR holds($3::integer, $4::bigint)) AS ok FROM c), "
      "r AS (SELECT x.* FROM g, json_to_recordset($2::json) AS x(k text, s bigint, st text, "
      "b double precision, e double precision, res text, err text, c text) WHERE g.ok), "
      "u AS (UPDATE steps t SET state = r.st, started = coalesce(r.b, t.started), ended = r.e, "
      "result = r.res, error = r.err, created_id = coalesce(r.c, t.created_id) FROM r WHERE "
      "t.run_id = $1::bigint AND t.step_key = r.k AND t.seq = r.s RETURNING t.step_key, t.seq), "
      "i AS (INSERT INTO steps (run_id, step_key, seq, state, started, ended, result, error, "
      "created_id) SELECT $1::bigint, r.k, r.s, r.st, coalesce(r.b, r.e), r.e, r.res, r.err, "
      "r.c FROM r WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.step_key = r.k AND u.seq = r.s)) "
      "SELECT ok FROM g", 5, p);
    if (!r) return -1;
    int ok = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (ok) break;
    if (again || fence_failed(j) != 0) return -1;
  }
  for (size_t i = 0; i < j->nrows; i++) free_row(&j->rows[i]);
  j->nrows = 0;
  j->held = 0;
  return 0;
}

static int pg_flush(tr_journal *j) {
  return write_held(j, 0);
}

static double pg_held_since(tr_journal *j) {
  return j->held;
}

static struct held_row *held_row(tr_journal *j, const char *run_id, const char *step_key,
                                 long long seq) {
  for (size_t i = j->nrows; i-- > 0; ) {
    struct held_row *h = &j->rows[i];
    if (h->seq == seq && strcmp(h->key, step_key) == 0 && strcmp(j->held_run, run_id) == 0)
      return h;
  }
  return NULL;
}

static int set_text(tr_journal *j, char **slot, const char *text) {
  char *copy = NULL;
  if (text && !(copy = strdup(text))) return fail(j, "journal: out of memory");
  free(*slot);
  *slot = copy;
  return 0;
}

/* Holds a record of a step: a start (replacing a record of it still held), or an end. One
 * record per step in a batch: the statement may not touch a row twice. */
static int hold(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                const char *state, double started, double ended, const char *result,
                const char *error, const char *created_id) {
  int other_run = j->held_run && strcmp(j->held_run, run_id) != 0;
  if ((j->nrows >= MAX_HELD_ROWS || other_run) && write_held(j, 0) != 0) return -1;
  if (!j->held_run || other_run) {
    char *copy = strdup(run_id);
    if (!copy) return fail(j, "journal: out of memory");
    free(j->held_run);
    j->held_run = copy;
  }
  struct held_row *h = held_row(j, run_id, step_key, seq);
  if (h) {
    if (set_text(j, &h->result, result) != 0 || set_text(j, &h->error, error) != 0 ||
        (created_id && set_text(j, &h->created_id, created_id) != 0))
      return -1;
    h->state = state;
    if (started >= 0) h->started = started;
    h->ended = ended;
    return 0;
  }
  if (j->nrows == j->cap_rows) {
    size_t cap = j->cap_rows ? 2 * j->cap_rows : 16;
    struct held_row *more = realloc(j->rows, cap * sizeof *more);
    if (!more) return fail(j, "journal: out of memory");
    j->rows = more;
    j->cap_rows = cap;
  }
  h = &j->rows[j->nrows];
  memset(h, 0, sizeof *h);
  h->state = state;
  h->seq = seq;
  h->started = started;
  h->ended = ended;
  if (!(h->key = strdup(step_key)) ||
      set_text(j, &h->result, result) != 0 || set_text(j, &h->error, error) != 0 ||
      set_text(j, &h->created_id, created_id) != 0) {
    free_row(h);
    return fail(j, "journal: out of memory");
  }
  j->nrows++;
  if (!j->held) j->held = now();
  return 0;
}

/* A durable record is the held ones and itself, in one statement committed synchronously. */
static int pg_step_started(tr_journal *j, const char *run_id, const char *step_key,
                           long long seq, const char *data_json, int durable) {
  if (hold(j, run_id, step_key, seq, TR_STEP_STARTED, now(), -1, data_json, NULL, NULL) != 0)
    return -1;
  return durable ? write_held(j, 1) : 0;
}

static int step_end(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                    const char *state, const char *result, const char *error,
                    const char *created_id, int durable) {
  if (hold(j, run_id, step_key, seq, state, -1, now(), result, error, created_id) != 0)
    return -1;
  return durable ? write_held(j, 1) : 0;
}

static int pg_step_finished(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                            const char *result_json, const char *created_id, int durable) {
  return step_end(j, run_id, step_key, seq, TR_STEP_FINISHED, result_json, NULL, created_id,
                  durable);
}

static int pg_step_failed(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                          const char *error_json, int durable) {
  return step_end(j, run_id, step_key, seq, TR_STEP_FAILED, NULL, error_json, NULL, durable);
}

static int pg_step_resolve(tr_journal *j, const char *run_id, const char *step_key,
                           long long seq, const char *state, const char *created_id,
                           const char *resolution_json) {
  if (write_held(j, 1) != 0) return -1;
  char sseq[32], t[64];
  snprintf(sseq, sizeof sseq, "%lld", seq);
  snprintf(t, sizeof t, "%.6f", now());
  const char *p[] = { run_id, step_key, sseq, state, created_id, resolution_json, t,
                      TR_STEP_FINISHED };
  PGresult *r = run_sql(j, "record a resolution", 0, "UPDATE steps SET state = "
                        "coalesce($4, state), created_id = coalesce($5, created_id), resolution "
                        "= $6, ended = CASE WHEN $4 = $8 THEN $7::double precision ELSE ended "
                        "END WHERE run_id::text = $1 AND step_key = $2 AND seq = $3", 8, p);
  if (!r) return -1;
  int changed = strcmp(PQcmdTuples(r), "0") != 0;
  PQclear(r);
  if (!changed) return fail(j, "journal: run %s has no step %s #%lld", run_id, step_key, seq);
  return 0;
}

static int pg_created_known(tr_journal *j, const char *created_id) {
  const char *p[] = { created_id };
  PGresult *r = run_sql(j, "look up a created id", 0, "SELECT 1 FROM steps WHERE created_id "
                        "= $1 LIMIT 1", 1, p);
  if (!r) return -1;
  int known = PQntuples(r) > 0;
  PQclear(r);
  return known;
}

#define STEP_COLS "step_key, seq, state, started, ended, result, error, created_id, resolution"

static void read_step(const PGresult *r, int row, tr_journal_step *s) {
  s->step_key = dup_value(r, row, 0);
  s->seq = int_value(r, row, 1);
  s->state = dup_value(r, row, 2);
  s->started = time_value(r, row, 3);
  s->ended = time_value(r, row, 4);
  s->result = dup_value(r, row, 5);
  s->error = dup_value(r, row, 6);
  s->created_id = dup_value(r, row, 7);
  s->resolution = dup_value(r, row, 8);
}

static int pg_step_get(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                       tr_journal_step *out) {
  memset(out, 0, sizeof *out);
  struct held_row *h = held_row(j, run_id, step_key, seq);
  if (h && h->started >= 0) {
    out->step_key = strdup(h->key);
    out->seq = h->seq;
    out->state = strdup(h->state);
    out->started = h->started;
    out->ended = h->ended;
    out->result = h->result ? strdup(h->result) : NULL;
    out->error = h->error ? strdup(h->error) : NULL;
    out->created_id = h->created_id ? strdup(h->created_id) : NULL;
    return 0;
  }
  if (h && write_held(j, 0) != 0) return -1;
  char sseq[32];
  snprintf(sseq, sizeof sseq, "%lld", seq);
  const char *p[] = { run_id, step_key, sseq };
  PGresult *r = run_sql(j, "read a step", 0, "SELECT " STEP_COLS " FROM steps WHERE "
                        "run_id::text = $1 AND step_key = $2 AND seq = $3", 3, p);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) read_step(r, 0, out);
  PQclear(r);
  return found ? 0 : 1;
}

static int pg_steps_list(tr_journal *j, const char *run_id, tr_journal_step_cb cb, void *ud) {
  if (j->nrows && strcmp(j->held_run, run_id) == 0 && write_held(j, 0) != 0) return -1;
  const char *p[] = { run_id };
  PGresult *r = run_sql(j, "list the steps", 0, "SELECT " STEP_COLS " FROM steps WHERE "
                        "run_id::text = $1 ORDER BY started, ord", 1, p);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tr_journal_step s;
    read_step(r, i, &s);
    int stop = cb(ud, &s);
    tr_journal_step_free(&s);
    if (stop) break;
  }
  PQclear(r);
  return 0;
}

const tr_journal_ops tr_journal_pg = {
  "postgresql", pg_open, pg_close, pg_error, pg_flush, pg_held_since, pg_watch, pg_lost, pg_lock,
  pg_unlock, pg_held, pg_run_begin, pg_run_end, pg_attempts_list, pg_runs_list, pg_run_get,
  pg_prune, pg_step_started, pg_step_finished, pg_step_failed, pg_step_resolve,
  pg_created_known, pg_step_get, pg_steps_list,
};
