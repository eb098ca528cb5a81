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
 * cannot lose them), on disk by the server's next WAL flush.
 *
 * This file holds the schema, runs and steps; journal_pg_conn.c the connections and retries,
 * journal_pg_lock.c the locks, their watch and the fence (journal_pg.h). */
#include "journal_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duration.h"

#define SCHEMA_VERSION 1
/* How long a write may wait for an unreachable database, unless TASKRUN_JOURNAL_RETRY says. */
#define DEFAULT_RETRY 30.0

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

/* ---- opening ---- */

/* The schema's version: 0 when there is none yet, -1 on an error. */
static int read_version(tr_journal *j) {
  PGresult *r = tr_pg_sql(j, "read the schema's version", 0,
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
    return tr_pg_fail(j, "the journal in schema %s was written by a newer taskrun (schema %d; "
                      "this one knows %d)", j->schema, v, SCHEMA_VERSION);
  if (v == SCHEMA_VERSION) return 0;
  tr_buf sql = { 0 };
  char head[700];
  snprintf(head, sizeof head, "BEGIN; SELECT pg_advisory_xact_lock(%lld); CREATE SCHEMA IF NOT "
           "EXISTS %s; SET LOCAL search_path TO %s; CREATE TABLE IF NOT EXISTS meta (version "
           "integer NOT NULL)", tr_pg_lock_key(j, "migrate"), j->schema_q, j->schema_q);
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
    if (!ok) tr_pg_fail(j, "journal: cannot create its tables in schema %s: %s", j->schema,
                        PQresultErrorMessage(r));
    PQclear(r);
  } else {
    tr_pg_fail(j, "journal: cannot create schema %s: %s", j->schema, PQerrorMessage(j->db));
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
  while (!(j->db = tr_pg_connect(j, 0, msg, sizeof msg, &again))) {
    if (!again || tr_pg_retry_wait(j, &since, &tries, msg) != 0) {
      if (!again) tr_pg_fail(j, "cannot connect: %s", msg);
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

static void pg_close(tr_journal *j) {
  if (!j) return;
  if (j->db && j->recs.n && !j->lost) write_held(j, 0);
  tr_held_free(&j->recs);
  free(j->batch.p);
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
  out->id = tr_pg_dup(r, row, 0);
  out->key = tr_pg_dup(r, row, 1);
  out->script = tr_pg_dup(r, row, 2);
  out->args = tr_pg_dup(r, row, 3);
  out->status = tr_pg_dup(r, row, 4);
  out->attempt = tr_pg_int(r, row, 5);
  out->started = tr_pg_time(r, row, 6);
  out->ended = tr_pg_time(r, row, 7);
  out->exit_code = (int)tr_pg_int(r, row, 8);
  out->pid = tr_pg_int(r, row, 9);
  out->host = tr_pg_dup(r, row, 10);
  out->script_hash = tr_pg_dup(r, row, 11);
}

/* The one run sql returns into out: 0, 1 when none, -1 on an error. */
static int one_run(tr_journal *j, const char *sql, const char *arg, tr_journal_run *out) {
  const char *p[] = { arg };
  PGresult *r = tr_pg_sql(j, "read a run", 0, sql, 1, p);
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
  double start = tr_pg_now();
  snprintf(spid, sizeof spid, "%lld", pid);
  snprintf(t, sizeof t, "%.6f", start);
  snprintf(j->starter, sizeof j->starter, "%.200s %lld %.6f", host ? host : "", pid, start);
  const char *p[] = { key, script, args_json, script_hash, fresh ? "t" : "f", spid, host,
                      j->starter, t };
  PGresult *r = tr_pg_sql(j, "begin a run", 0, "SELECT " RUN_COLS " FROM begin_run($1, $2, $3, "
                          "$4, $5, $6, $7, $8, $9)", 9, p);
  if (!r) return -1;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return tr_pg_fail(j, "journal: the run just begun is gone");
  }
  read_run(r, 0, out);
  PQclear(r);
  *resumed = out->attempt > 1;
  free(j->run_id);
  j->run_id = strdup(out->id);
  j->attempt = out->attempt;
  return j->run_id ? 0 : tr_pg_fail(j, "journal: out of memory");
}

static int pg_run_end(tr_journal *j, const char *run_id, const char *status, int exit_code) {
  if (write_held(j, 1) != 0) return -1;
  char code[32], t[64], backend[32], key[32];
  snprintf(code, sizeof code, "%d", exit_code);
  snprintf(t, sizeof t, "%.6f", tr_pg_now());
  for (int again = 0; ; again++) {
    tr_pg_fence_params(j, backend, key);
    const char *p[] = { run_id, status, t, code, backend, key };
    PGresult *r = tr_pg_sql(j, "record a run's end", 1,
      "WITH g AS (SELECT ($5::integer = 0 OR holds($5::integer, $6::bigint)) AS ok), "
      "r AS (UPDATE runs SET status = $2, ended = $3, exit_code = $4 FROM g WHERE id = $1 AND "
      "g.ok RETURNING id, attempt), "
      "a AS (UPDATE attempts SET status = $2, ended = $3, exit_code = $4 FROM r WHERE "
      "attempts.run_id = r.id AND attempts.attempt = r.attempt) SELECT ok FROM g", 6, p);
    if (!r) return -1;
    int ok = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (ok) return 0;
    if (again || tr_pg_fence_failed(j) != 0) return -1;
  }
}

static int pg_attempts_list(tr_journal *j, const char *run_id, tr_journal_attempt_cb cb,
                            void *ud) {
  const char *p[] = { run_id };
  PGresult *r = tr_pg_sql(j, "list the attempts", 0, "SELECT attempt, host, pid, started, "
                          "ended, status, exit_code FROM attempts WHERE run_id::text = $1 ORDER "
                          "BY attempt", 1, p);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    tr_journal_attempt a = { 0 };
    a.attempt = tr_pg_int(r, i, 0);
    a.host = tr_pg_dup(r, i, 1);
    a.pid = tr_pg_int(r, i, 2);
    a.started = tr_pg_time(r, i, 3);
    a.ended = tr_pg_time(r, i, 4);
    a.status = tr_pg_dup(r, i, 5);
    a.exit_code = (int)tr_pg_int(r, i, 6);
    int stop = cb(ud, &a);
    tr_journal_attempt_free(&a);
    if (stop) break;
  }
  PQclear(r);
  return 0;
}

static int pg_runs_list(tr_journal *j, tr_journal_run_cb cb, void *ud) {
  PGresult *r = tr_pg_sql(j, "list the runs", 0, "SELECT " RUN_COLS " FROM runs ORDER BY id",
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
  PGresult *r = tr_pg_sql(j, "prune", 0, "DELETE FROM runs WHERE status IN ($1, $2) AND ended "
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
  if (!j->recs.n) {
    j->held = 0;
    return 0;
  }
  tr_buf *b = &j->batch;
  b->n = 0;
  tr_buf_puts(b, "[");
  for (size_t i = 0; i < j->recs.n; i++) {
    tr_held_row *h = &j->recs.rows[i];
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
    return tr_pg_fail(j, "journal: out of memory");
  }
  char backend[32], key[32];
  for (int again = 0; ; again++) {
    tr_pg_fence_params(j, backend, key);
    const char *p[] = { j->recs.run, b->p, backend, key, sync ? "on" : "off" };
    /* synchronous_commit for this statement's own transaction only. */
    PGresult *r = tr_pg_sql(j, "record steps", 1,
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
    if (again || tr_pg_fence_failed(j) != 0) return -1;
  }
  tr_held_clear(&j->recs);
  j->held = 0;
  return 0;
}

static int pg_flush(tr_journal *j) {
  return write_held(j, 0);
}

static double pg_held_since(tr_journal *j) {
  return j->held;
}

/* Holds a record of a step: a start (replacing a record of it still held), or an end. One
 * record per step in a batch: the statement may not touch a row twice. */
static int hold(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                const char *state, double started, double ended, const char *result,
                const char *error, const char *created_id) {
  if (tr_held_full(&j->recs, run_id) && write_held(j, 0) != 0) return -1;
  tr_held_row *h = tr_held_find(&j->recs, run_id, step_key, seq);
  if (h ? tr_held_update(&j->recs, h, state, started, ended, result, error, created_id) != 0
        : !tr_held_add(&j->recs, run_id, step_key, seq, state, started, ended, result, error,
                       created_id))
    return tr_pg_fail(j, "journal: out of memory");
  if (!j->held) j->held = tr_pg_now();
  return 0;
}

/* A durable record is the held ones and itself, in one statement committed synchronously. */
static int pg_step_started(tr_journal *j, const char *run_id, const char *step_key,
                           long long seq, const char *data_json, int durable) {
  if (hold(j, run_id, step_key, seq, TR_STEP_STARTED, tr_pg_now(), -1, data_json, NULL, NULL) != 0)
    return -1;
  return durable ? write_held(j, 1) : 0;
}

static int pg_step_ended(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                         const char *state, const char *result, const char *error,
                         const char *created_id, int durable) {
  if (hold(j, run_id, step_key, seq, state, -1, tr_pg_now(), result, error, created_id) != 0)
    return -1;
  return durable ? write_held(j, 1) : 0;
}

static int pg_step_resolve(tr_journal *j, const char *run_id, const char *step_key,
                           long long seq, const char *state, const char *created_id,
                           const char *resolution_json) {
  if (write_held(j, 1) != 0) return -1;
  char sseq[32], t[64];
  snprintf(sseq, sizeof sseq, "%lld", seq);
  snprintf(t, sizeof t, "%.6f", tr_pg_now());
  const char *p[] = { run_id, step_key, sseq, state, created_id, resolution_json, t,
                      TR_STEP_FINISHED };
  PGresult *r = tr_pg_sql(j, "record a resolution", 0, "UPDATE steps SET state = "
                          "coalesce($4, state), created_id = coalesce($5, created_id), resolution "
                          "= $6, ended = CASE WHEN $4 = $8 THEN $7::double precision ELSE ended "
                          "END WHERE run_id::text = $1 AND step_key = $2 AND seq = $3", 8, p);
  if (!r) return -1;
  int changed = strcmp(PQcmdTuples(r), "0") != 0;
  PQclear(r);
  if (!changed) return tr_pg_fail(j, "journal: run %s has no step %s #%lld", run_id, step_key, seq);
  return 0;
}

static int pg_created_known(tr_journal *j, const char *created_id) {
  const char *p[] = { created_id };
  PGresult *r = tr_pg_sql(j, "look up a created id", 0, "SELECT 1 FROM steps WHERE created_id "
                          "= $1 LIMIT 1", 1, p);
  if (!r) return -1;
  int known = PQntuples(r) > 0;
  PQclear(r);
  return known;
}

#define STEP_COLS "step_key, seq, state, started, ended, result, error, created_id, resolution"

static void read_step(const PGresult *r, int row, tr_journal_step *s) {
  s->step_key = tr_pg_dup(r, row, 0);
  s->seq = tr_pg_int(r, row, 1);
  s->state = tr_pg_dup(r, row, 2);
  s->started = tr_pg_time(r, row, 3);
  s->ended = tr_pg_time(r, row, 4);
  s->result = tr_pg_dup(r, row, 5);
  s->error = tr_pg_dup(r, row, 6);
  s->created_id = tr_pg_dup(r, row, 7);
  s->resolution = tr_pg_dup(r, row, 8);
}

static int pg_step_get(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                       tr_journal_step *out) {
  memset(out, 0, sizeof *out);
  tr_held_row *h = tr_held_find(&j->recs, run_id, step_key, seq);
  if (h && h->started >= 0) {
    tr_held_step(h, out);
    return 0;
  }
  if (h && write_held(j, 0) != 0) return -1;
  char sseq[32];
  snprintf(sseq, sizeof sseq, "%lld", seq);
  const char *p[] = { run_id, step_key, sseq };
  PGresult *r = tr_pg_sql(j, "read a step", 0, "SELECT " STEP_COLS " FROM steps WHERE "
                          "run_id::text = $1 AND step_key = $2 AND seq = $3", 3, p);
  if (!r) return -1;
  int found = PQntuples(r) > 0;
  if (found) read_step(r, 0, out);
  PQclear(r);
  return found ? 0 : 1;
}

static int pg_steps_list(tr_journal *j, const char *run_id, tr_journal_step_cb cb, void *ud) {
  if (j->recs.n && strcmp(j->recs.run, run_id) == 0 && write_held(j, 0) != 0) return -1;
  const char *p[] = { run_id };
  PGresult *r = tr_pg_sql(j, "list the steps", 0, "SELECT " STEP_COLS " FROM steps WHERE "
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
  "postgresql", pg_open, pg_close, pg_error, pg_flush, pg_held_since, tr_pg_watch, tr_pg_lost,
  tr_pg_lock, tr_pg_unlock, tr_pg_held, pg_run_begin, pg_run_end, pg_attempts_list,
  pg_runs_list, pg_run_get, pg_prune, pg_step_started, pg_step_ended, pg_step_resolve,
  pg_created_known, pg_step_get, pg_steps_list,
};
