/* The journal in SQLite (Debian's libsqlite3): one database file, journal.db, in the state
 * directory, in WAL mode. A write asked to be durable (runs, provider calls) is committed with
 * synchronous=FULL: on disk before the run goes on. Other writes (explicit steps, which run at
 * least once anyway, and waits) are held back and committed together with synchronous=NORMAL
 * by flush (which durable.c calls at most TR_JOURNAL_BATCH after the first, and before the
 * runbook's output), by the next durable write, or by close: once committed they are in the
 * WAL, so they survive the process's death, though not a power cut before the next sync.
 *
 * Held writes are records in memory (a step's start, updated in place by its end) until they
 * are written, together, as rows of the step_log table (step_log.h) of up to a page each: one
 * row insert per few dozen steps, not one per step, which is what lets a step cost a few
 * microseconds. When TR_HELD_MAX records wait they are packed into those rows' bytes, still in
 * memory: SQLite is entered when the batch is written (flush, a durable write, a read of the
 * run's steps, or LOG_MAX bytes), not every TR_HELD_MAX steps: each visit costs a busy run far
 * more than its instructions (its code and pages are cold by then), the transaction's BEGIN
 * most of all. The log is replayed into the steps table (one row per step) before anything
 * reads or updates a run's steps: a resumed run's first look-up, runs show, runs resolve.
 * Statements are prepared once per connection and reused. Several taskrun processes share the
 * file; the busy timeout makes them take turns. *
 * Locks are not rows: a row outlives a killed process. They are open file description locks
 * (fcntl F_OFD_SETLK) on one file per lock under locks/, which the kernel drops when the process
 * dies, and which another process can test (F_OFD_GETLK) without taking. The file holds the
 * holder's pid and start time, for the message of whoever finds it taken. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "hash.h"
#include "held.h"
#include "step_log.h"

/* The schema's version, in PRAGMA user_version. A newer journal is refused, never rewritten. */
#define SCHEMA_VERSION 5

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS runs ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  key TEXT NOT NULL,"
  "  script TEXT,"
  "  args TEXT NOT NULL,"          /* JSON array of strings */
  "  status TEXT NOT NULL,"
  "  attempt INTEGER NOT NULL,"
  "  started REAL NOT NULL,"       /* the first attempt's start */
  "  ended REAL,"
  "  exit_code INTEGER,"
  "  pid INTEGER,"                 /* the latest attempt's process */
  "  host TEXT,"
  "  script_hash TEXT);"           /* since version 2 */
  "CREATE INDEX IF NOT EXISTS runs_key ON runs(key, id);"
  "CREATE TABLE IF NOT EXISTS steps ("
  "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
  "  step_key TEXT NOT NULL,"
  "  seq INTEGER NOT NULL,"
  "  state TEXT NOT NULL,"
  "  started REAL NOT NULL,"
  "  ended REAL,"
  "  result TEXT,"                 /* JSON */
  "  error TEXT,"                  /* JSON */
  "  created_id TEXT,"
  "  resolution TEXT,"             /* JSON, since version 3: how an operator settled it */
  "  UNIQUE (run_id, step_key, seq));"
  "CREATE INDEX IF NOT EXISTS steps_created ON steps(created_id) WHERE created_id IS NOT NULL;"
  /* Since version 4: batches of step records (step_log.h) not yet replayed into steps. */
  "CREATE TABLE IF NOT EXISTS step_log ("
  "  id INTEGER PRIMARY KEY,"
  "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
  "  records BLOB NOT NULL);"
  "CREATE INDEX IF NOT EXISTS step_log_run ON step_log(run_id, id);"
  /* Since version 5: who ran each attempt (runs holds the latest one's host and pid). */
  "CREATE TABLE IF NOT EXISTS attempts ("
  "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
  "  attempt INTEGER NOT NULL,"
  "  host TEXT,"
  "  pid INTEGER,"
  "  started REAL NOT NULL,"
  "  ended REAL,"
  "  status TEXT,"
  "  exit_code INTEGER,"
  "  PRIMARY KEY (run_id, attempt));";

#define MAX_LOCKS 8
#define MAX_STMTS 32

struct tr_journal {
  sqlite3 *db;
  char *dir;
  char err[512];
  struct { char *name; int fd; } locks[MAX_LOCKS];
  /* Prepared statements, keyed by their SQL text's address (every one is a literal). */
  struct { const char *sql; sqlite3_stmt *st; int busy; } stmts[MAX_STMTS];
  int full_sync;             /* PRAGMA synchronous is FULL (1) or NORMAL (0) now */
  double batch_open;         /* when the transaction of not-durable writes opened; 0: none */
  double held;               /* when the oldest write held back (batch or start) was made */
  /* Records of steps that are not durable, kept here (a start updated in place by its end: one
   * record, not two) until they are written to the step log: by flush, before a durable write
   * or a read; when TR_HELD_MAX wait (held.h) they are packed into `log`. */
  tr_held recs;
  /* The records of the next step_log rows, all of recs.run's: packed there from recs when
   * TR_HELD_MAX wait, written (with recs' own) by write_held. */
  tr_buf log;
  size_t *cuts, ncuts, cuts_cap;   /* where each of log's rows but the last ends */
  size_t row_at;                   /* where log's last row begins */
  char *replayed;            /* the run whose step log is known replayed, or NULL */
};

static double now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static int fail(tr_journal *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(tr_journal *j, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->err, sizeof j->err, fmt, ap);
  va_end(ap);
  return -1;
}

static int db_fail(tr_journal *j, const char *what) {
  return fail(j, "journal: %s: %s", what, sqlite3_errmsg(j->db));
}

static char *dup_text(sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  return t ? strdup((const char *)t) : NULL;
}

static double col_time(sqlite3_stmt *st, int col) {
  return sqlite3_column_type(st, col) == SQLITE_NULL ? -1 : sqlite3_column_double(st, col);
}

void tr_journal_run_free(tr_journal_run *r) {
  free(r->id); free(r->key); free(r->script); free(r->args); free(r->status); free(r->host);
  free(r->script_hash);
  memset(r, 0, sizeof *r);
}

void tr_journal_step_free(tr_journal_step *s) {
  free(s->step_key); free(s->state); free(s->result); free(s->error); free(s->created_id);
  free(s->resolution);
  memset(s, 0, sizeof *s);
}

void tr_journal_attempt_free(tr_journal_attempt *a) {
  free(a->host); free(a->status);
  memset(a, 0, sizeof *a);
}

static int exec(tr_journal *j, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
  fail(j, "journal: %s", msg ? msg : sqlite3_errmsg(j->db));
  sqlite3_free(msg);
  return -1;
}

/* The statements a batch is written with. statement() knows a kept statement by its text's
 * address, so each is one array, the same wherever it is used (warm_batch too). */
static const char SYNC_NORMAL[] = "PRAGMA synchronous=NORMAL";
static const char SYNC_FULL[] = "PRAGMA synchronous=FULL";
static const char BEGIN_BATCH[] = "BEGIN IMMEDIATE";
static const char COMMIT_BATCH[] = "COMMIT";
static const char STEP_LOG_INSERT[] = "INSERT INTO step_log (run_id, records) VALUES (?1, ?2)";

/* The statement of `sql`, prepared on first use and kept for the connection; one still in use
 * (a list whose callback calls back in) gets a fresh one, finalized by release(). */
static sqlite3_stmt *statement(tr_journal *j, const char *sql) {
  int free_slot = -1;
  for (int i = 0; i < MAX_STMTS; i++) {
    if (j->stmts[i].sql == sql && !j->stmts[i].busy) {
      j->stmts[i].busy = 1;
      return j->stmts[i].st;
    }
    if (!j->stmts[i].sql && free_slot < 0) free_slot = i;
  }
  sqlite3_stmt *st;
  if (sqlite3_prepare_v3(j->db, sql, -1, free_slot >= 0 ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                         NULL) != SQLITE_OK) {
    db_fail(j, "prepare");
    return NULL;
  }
  if (free_slot >= 0) {
    j->stmts[free_slot].sql = sql;
    j->stmts[free_slot].st = st;
    j->stmts[free_slot].busy = 1;
  }
  return st;
}

/* Done with st: a kept statement is reset for its next use, another one finalized. */
static void release(tr_journal *j, sqlite3_stmt *st) {
  for (int i = 0; i < MAX_STMTS; i++) {
    if (j->stmts[i].st == st && j->stmts[i].busy) {
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      j->stmts[i].busy = 0;
      return;
    }
  }
  sqlite3_finalize(st);
}

/* Makes the following commits durable (FULL: synced to disk) or not (NORMAL: in the WAL). */
static int run_fixed(tr_journal *j, const char *sql);

static int set_sync(tr_journal *j, int full) {
  if (j->full_sync == full) return 0;
  if (run_fixed(j, full ? SYNC_FULL : SYNC_NORMAL) != 0)
    return -1;
  j->full_sync = full;
  return 0;
}

static int begin_write(tr_journal *j, int durable);
static int run_stmt(tr_journal *j, sqlite3_stmt *st, const char *what);

/* The packed records are written when they reach this many bytes, whatever the time: the
 * memory a batch of tiny steps holds stays bounded. */
#define LOG_MAX (256 * 1024)

/* A step_log row holds at most this many bytes of records (unless one record is larger): it
 * fits a 4 KB page. */
#define ROW_BYTES 3800

/* Forgets the packed records (written, or given up). */
static void log_clear(tr_journal *j) {
  j->log.n = 0;
  j->ncuts = 0;
  j->row_at = 0;
}

/* Packs the held rows into the next step_log rows' bytes (j->log), in memory: they are no
 * longer found as held (an end of one is held as a record of its own, as after a write). */
static int pack_held(tr_journal *j) {
  for (size_t i = 0; i < j->recs.n && !j->log.failed; i++) {
    tr_held_row *h = &j->recs.rows[i];
    tr_step_record r = { h->key, h->state, h->seq, h->started, h->ended, h->result, h->error,
                         h->created_id };
    size_t at = j->log.n;
    tr_step_log_put(&j->log, &r);
    if (j->log.n - j->row_at <= ROW_BYTES || at == j->row_at) continue;
    /* The row would outgrow ROW_BYTES: this record begins the next one. */
    if (j->ncuts == j->cuts_cap) {
      size_t cap = j->cuts_cap ? 2 * j->cuts_cap : 16;
      size_t *more = realloc(j->cuts, cap * sizeof *more);
      if (!more) {
        j->log.failed = 1;
        break;
      }
      j->cuts = more;
      j->cuts_cap = cap;
    }
    j->cuts[j->ncuts++] = at;
    j->row_at = at;
  }
  tr_held_clear(&j->recs);
  if (!j->log.failed) return 0;
  j->log.failed = 0;
  log_clear(j);
  return fail(j, "journal: out of memory");
}

/* Writes the held rows and those packed before, as step_log rows, in the batch (not committed
 * yet). */
static int write_held(tr_journal *j) {
  if (!j->recs.n && !j->log.n) return 0;
  int rc = begin_write(j, 0);
  if (pack_held(j) != 0) return -1;
  if (rc != 0) {
    log_clear(j);
    return -1;
  }
  if (j->replayed && strcmp(j->replayed, j->recs.run) == 0) {
    free(j->replayed);
    j->replayed = NULL;
  }
  /* Rows of up to ROW_BYTES, whole records each (pack_held cut them): a row that fits a page
   * needs no overflow pages, and SQLite builds it in a buffer it reuses (a larger one is fresh
   * memory, which costs a page fault per 4 KB). */
  rc = 0;
  for (size_t i = 0, row = 0; rc == 0 && row < j->log.n; i++) {
    size_t end = i < j->ncuts ? j->cuts[i] : j->log.n;
    sqlite3_stmt *st = statement(j, STEP_LOG_INSERT);
    if (!st) {
      rc = -1;
      break;
    }
    sqlite3_bind_text(st, 1, j->recs.run, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, j->log.p + row, (int)(end - row), SQLITE_STATIC);
    rc = run_stmt(j, st, "record steps");
    row = end;
  }
  log_clear(j);
  return rc;
}

static sqlite3_stmt *prepare(tr_journal *j, const char *sql, const char *types, ...);

/* Runs one of the batch's fixed statements (BEGIN, COMMIT, a PRAGMA), prepared once. */
static int run_fixed(tr_journal *j, const char *sql) {
  sqlite3_stmt *st = prepare(j, sql, "");
  if (!st) return -1;
  int rc = sqlite3_step(st);
  int ok = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(j, sql);
  release(j, st);
  return ok;
}

/* Commits what is held back: the rows, then the open batch of not-durable writes. */
static int sq_flush(tr_journal *j) {
  if (write_held(j) != 0) return -1;
  j->held = 0;
  if (!j->batch_open) return 0;
  j->batch_open = 0;
  if (run_fixed(j, COMMIT_BATCH) == 0) return 0;
  sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}

static double sq_held_since(tr_journal *j) {
  return j->held;
}

/* Gets ready for a write: a durable one commits the batch first and then commits by itself with
 * synchronous=FULL; another joins the batch (opening it with synchronous=NORMAL). */
static int begin_write(tr_journal *j, int durable) {
  if (durable) return sq_flush(j) == 0 && set_sync(j, 1) == 0 ? 0 : -1;
  if (j->batch_open) return 0;
  if (set_sync(j, 0) != 0 || run_fixed(j, BEGIN_BATCH) != 0) return -1;
  j->batch_open = now();
  if (!j->held) j->held = j->batch_open;
  return 0;
}

/* The statement of sql with the arguments given by `types` bound: 's' text (NULL binds null),
 * 'i' long long, 'd' double. Give it back with release(). */
static sqlite3_stmt *prepare(tr_journal *j, const char *sql, const char *types, ...) {
  sqlite3_stmt *st = statement(j, sql);
  if (!st) return NULL;
  va_list ap;
  va_start(ap, types);
  for (int i = 0; types[i]; i++) {
    if (types[i] == 's') {
      const char *s = va_arg(ap, const char *);
      if (s) sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT);
      else sqlite3_bind_null(st, i + 1);
    } else if (types[i] == 'i') {
      sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
    } else {
      sqlite3_bind_double(st, i + 1, va_arg(ap, double));
    }
  }
  va_end(ap);
  return st;
}

/* Runs a statement that returns no rows, and releases it. */
static int run_stmt(tr_journal *j, sqlite3_stmt *st, const char *what) {
  if (!st) return -1;
  int rc = sqlite3_step(st);
  int ok = rc == SQLITE_DONE ? 0 : db_fail(j, what);
  release(j, st);
  return ok;
}

static tr_journal *sq_open(const char *dir, char *err, size_t errlen, int *transient) {
  tr_journal *j = calloc(1, sizeof *j);
  *transient = 0;
  char path[4096];
  if (!j || !(j->dir = strdup(dir))) {
    snprintf(err, errlen, "out of memory");
    free(j);
    return NULL;
  }
  for (int i = 0; i < MAX_LOCKS; i++) j->locks[i].fd = -1;
  snprintf(path, sizeof path, "%s/journal.db", dir);
  int rc = sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", path, j->db ? sqlite3_errmsg(j->db) :
             sqlite3_errstr(rc));
    goto failed;
  }
  sqlite3_busy_timeout(j->db, 10000);
  /* The last process to close would checkpoint the WAL into the database (more syncs) on
   * every run's exit; the automatic checkpoint of a commit does it every 1000 pages instead. */
  sqlite3_db_config(j->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  /* A small page cache: the journal's work is appending a few pages and reading a few rows,
   * and every page the cache grows by is fresh memory (a page fault, 10-20 us on a small VM,
   * in a commit of the steps); SQLite reuses the pages of a cache that stopped growing. */
  if (exec(j, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
           "PRAGMA cache_size=16;") != 0)
    goto failed_msg;
  j->full_sync = 1;
  sqlite3_stmt *st = prepare(j, "PRAGMA user_version", "");
  int version = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  if (st) release(j, st);
  if (version < 0) goto failed_msg;
  if (version > SCHEMA_VERSION) {
    snprintf(err, errlen, "%s was written by a newer taskrun (schema %d; this one knows %d)",
             path, version, SCHEMA_VERSION);
    goto failed;
  }
  if (version < SCHEMA_VERSION) {
    /* Version 1 lacked runs.script_hash (its runs read as of an unknown script), versions 1
     * and 2 steps.resolution: add them. */
    char sql[sizeof schema + 1024];
    snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; %s %s %s PRAGMA user_version=%d; COMMIT;",
             version == 1 ? "ALTER TABLE runs ADD COLUMN script_hash TEXT;" : "",
             version == 1 || version == 2 ? "ALTER TABLE steps ADD COLUMN resolution TEXT;" : "",
             schema, SCHEMA_VERSION);
    /* Runs begun before version 5 know their latest attempt only. */
    if (version > 0 && version < 5) {
      size_t used = strlen(sql) - strlen(" COMMIT;");
      snprintf(sql + used, sizeof sql - used, " INSERT OR IGNORE INTO attempts SELECT id, "
               "attempt, host, pid, started, ended, nullif(status, '" TR_RUN_RUNNING "'), "
               "exit_code FROM runs; COMMIT;");
    }
    if (exec(j, sql) != 0) goto failed_msg;
  }
  return j;
failed_msg:
  snprintf(err, errlen, "cannot use %s: %s", path, j->err);
failed:
  for (int i = 0; i < MAX_STMTS; i++) sqlite3_finalize(j->stmts[i].st);
  sqlite3_close(j->db);
  free(j->dir);
  free(j);
  return NULL;
}

static void sq_close(tr_journal *j) {
  if (!j) return;
  sq_flush(j);
  tr_held_free(&j->recs);
  free(j->log.p);
  free(j->cuts);
  free(j->replayed);
  for (int i = 0; i < MAX_STMTS; i++) sqlite3_finalize(j->stmts[i].st);
  for (int i = 0; i < MAX_LOCKS; i++) {
    if (j->locks[i].fd >= 0) close(j->locks[i].fd);
    free(j->locks[i].name);
  }
  sqlite3_close(j->db);
  free(j->dir);
  free(j);
}

static const char *sq_error(tr_journal *j) {
  return j->err;
}

/* The file's locks are the process's own: nothing to watch, nothing to lose. */
static int sq_watch(tr_journal *j, double *next_in) {
  (void)j;
  *next_in = -1;
  return 0;
}

static int sq_lost(tr_journal *j) {
  (void)j;
  return 0;
}

/* ---- locks ---- */

/* The lock file of `name`: locks/<64-bit FNV-1a of the name>.lock (any name, any length). */
static int lock_path(tr_journal *j, const char *name, char *path, size_t n) {
  unsigned long long h = tr_fnv1a64(TR_FNV1A64_INIT, name, strlen(name));
  snprintf(path, n, "%s/locks", j->dir);
  if (mkdir(path, 0700) != 0 && errno != EEXIST)
    return fail(j, "cannot create %s: %s", path, strerror(errno));
  snprintf(path, n, "%s/locks/%016llx.lock", j->dir, h);
  return 0;
}

/* The lock file: "PID STARTED HOST\n". */
static void read_holder(int fd, tr_journal_holder *holder) {
  char buf[512] = { 0 };
  holder->pid = 0;
  holder->started = 0;
  holder->host[0] = '\0';
  if (pread(fd, buf, sizeof buf - 1, 0) > 0)
    sscanf(buf, "%lld %lf %255s", &holder->pid, &holder->started, holder->host);
}

static int sq_lock(tr_journal *j, const char *name, double wait, tr_journal_holder *holder) {
  char path[4200];
  int slot = -1;
  for (int i = 0; i < MAX_LOCKS; i++)
    if (j->locks[i].fd < 0) { slot = i; break; }
  if (slot < 0) return fail(j, "too many locks");
  if (lock_path(j, name, path, sizeof path) != 0) return -1;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail(j, "cannot open %s: %s", path, strerror(errno));
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  double until = now() + (wait > 0 ? wait : 0);
  while (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
      fail(j, "cannot lock %s: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
    if (now() >= until) {
      read_holder(fd, holder);
      close(fd);
      return 1;
    }
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  char buf[512], host[256] = "";
  gethostname(host, sizeof host - 1);
  int len = snprintf(buf, sizeof buf, "%lld %.3f %s\n", (long long)getpid(), now(),
                     *host ? host : "-");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
    fail(j, "cannot write %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  j->locks[slot].fd = fd;
  j->locks[slot].name = strdup(name);
  return 0;
}

static void sq_unlock(tr_journal *j, const char *name) {
  for (int i = 0; i < MAX_LOCKS; i++) {
    if (j->locks[i].fd < 0 || strcmp(j->locks[i].name, name) != 0) continue;
    close(j->locks[i].fd);   /* drops the OFD lock */
    j->locks[i].fd = -1;
    free(j->locks[i].name);
    j->locks[i].name = NULL;
  }
}

static int sq_held(tr_journal *j, const char *name) {
  char path[4200];
  for (int i = 0; i < MAX_LOCKS; i++)
    if (j->locks[i].fd >= 0 && strcmp(j->locks[i].name, name) == 0) return 1;
  if (lock_path(j, name, path, sizeof path) != 0) return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : fail(j, "cannot open %s: %s", path, strerror(errno));
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  int rc = fcntl(fd, F_OFD_GETLK, &fl);
  close(fd);
  if (rc != 0) return fail(j, "cannot test the lock %s: %s", path, strerror(errno));
  return fl.l_type != F_UNLCK;
}

/* ---- runs ---- */

#define RUN_COLS "id, key, script, args, status, attempt, started, ended, exit_code, pid, host, " \
  "script_hash"

static void read_run(sqlite3_stmt *st, tr_journal_run *r) {
  r->id = dup_text(st, 0);
  r->key = dup_text(st, 1);
  r->script = dup_text(st, 2);
  r->args = dup_text(st, 3);
  r->status = dup_text(st, 4);
  r->attempt = sqlite3_column_int64(st, 5);
  r->started = sqlite3_column_double(st, 6);
  r->ended = col_time(st, 7);
  r->exit_code = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 8);
  r->pid = sqlite3_column_int64(st, 9);
  r->host = dup_text(st, 10);
  r->script_hash = dup_text(st, 11);
}

/* Reads the one row st returns into out: 0, 1 when none, -1 on an error. Releases st. */
static int one_run(tr_journal *j, sqlite3_stmt *st, tr_journal_run *out) {
  if (!st) return -1;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) read_run(st, out);
  release(j, st);
  return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : db_fail(j, "read a run");
}

/* Prepares the statements a batch of steps is written with, now, at the run's start: the first
 * batch would otherwise pay for parsing them in the middle of the runbook's steps. */
static void warm_batch(tr_journal *j) {
  static const char *const batch[] = {
    SYNC_NORMAL, BEGIN_BATCH, COMMIT_BATCH, STEP_LOG_INSERT, NULL
  };
  for (int i = 0; batch[i]; i++) {
    sqlite3_stmt *st = statement(j, batch[i]);
    if (st) release(j, st);
  }
}

static int sq_run_begin(tr_journal *j, const char *key, const char *script,
                        const char *args_json, const char *script_hash, int fresh, long long pid,
                        const char *host, tr_journal_run *out, int *resumed) {
  memset(out, 0, sizeof *out);
  *resumed = 0;
  if (exec(j, "BEGIN IMMEDIATE") != 0) return -1;
  tr_journal_run last = { 0 };
  if (begin_write(j, 1) != 0) return -1;
  int rc = one_run(j, prepare(j, "SELECT " RUN_COLS " FROM runs WHERE key = ?1 ORDER BY id DESC "
                              "LIMIT 1", "s", key), &last);
  if (rc < 0) goto rollback;
  int unfinished = rc == 0 && (strcmp(last.status, TR_RUN_RUNNING) == 0 ||
                               strcmp(last.status, TR_RUN_INTERRUPTED) == 0 ||
                               strcmp(last.status, TR_RUN_IN_DOUBT) == 0);
  double t = now();
  if (unfinished && !fresh) {
    rc = run_stmt(j, prepare(j, "UPDATE runs SET status = ?2, attempt = attempt + 1, ended = NULL,"
                             " exit_code = NULL, pid = ?3, host = ?4, script = ?5, args = ?6, "
                             /* a run begun before version 2 learns its hash now */
                             "script_hash = coalesce(script_hash, ?7) WHERE id = ?1", "ssissss",
                             last.id, TR_RUN_RUNNING, pid, host, script, args_json, script_hash),
                  "resume a run");
    *resumed = 1;
  } else {
    if (unfinished)
      rc = run_stmt(j, prepare(j, "UPDATE runs SET status = ?2, ended = ?3 WHERE id = ?1", "ssd",
                               last.id, TR_RUN_ABANDONED, t), "abandon a run");
    if (rc == 0 || rc == 1)
      rc = run_stmt(j, prepare(j, "INSERT INTO runs (key, script, args, status, attempt, started,"
                               " pid, host, script_hash) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, "
                               "?8)", "ssssdiss", key, script, args_json, TR_RUN_RUNNING, t, pid,
                               host, script_hash),
                    "insert a run");
  }
  if (rc < 0) goto rollback;
  const char *one = "SELECT " RUN_COLS " FROM runs WHERE id = ?1";
  rc = one_run(j, *resumed ? prepare(j, one, "s", last.id)
                           : prepare(j, one, "i", (long long)sqlite3_last_insert_rowid(j->db)),
               out);
  if (rc != 0) goto rollback;
  if (run_stmt(j, prepare(j, "INSERT OR REPLACE INTO attempts (run_id, attempt, host, pid, "
                          "started) VALUES (?1, ?2, ?3, ?4, ?5)", "sisid", out->id, out->attempt,
                          host, pid, t), "record an attempt") != 0)
    goto rollback;
  tr_journal_run_free(&last);
  if (exec(j, "COMMIT") != 0) return -1;
  warm_batch(j);
  return 0;
rollback:
  tr_journal_run_free(&last);
  tr_journal_run_free(out);
  sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}

static int sq_run_end(tr_journal *j, const char *run_id, const char *status, int exit_code) {
  if (begin_write(j, 1) != 0 || exec(j, "BEGIN IMMEDIATE") != 0) return -1;
  double t = now();
  if (run_stmt(j, prepare(j, "UPDATE runs SET status = ?2, ended = ?3, exit_code = ?4 "
                          "WHERE id = ?1", "ssdi", run_id, status, t, (long long)exit_code),
               "record a run's end") != 0 ||
      run_stmt(j, prepare(j, "UPDATE attempts SET status = ?2, ended = ?3, exit_code = ?4 "
                          "WHERE run_id = ?1 AND attempt = (SELECT attempt FROM runs WHERE id = "
                          "?1)", "ssdi", run_id, status, t, (long long)exit_code),
               "record an attempt's end") != 0) {
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
  }
  return exec(j, "COMMIT");
}

static int sq_attempts_list(tr_journal *j, const char *run_id, tr_journal_attempt_cb cb,
                            void *ud) {
  sqlite3_stmt *st = prepare(j, "SELECT attempt, host, pid, started, ended, status, exit_code "
                             "FROM attempts WHERE run_id = ?1 ORDER BY attempt", "s", run_id);
  if (!st) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tr_journal_attempt a = { 0 };
    a.attempt = sqlite3_column_int64(st, 0);
    a.host = dup_text(st, 1);
    a.pid = sqlite3_column_int64(st, 2);
    a.started = sqlite3_column_double(st, 3);
    a.ended = col_time(st, 4);
    a.status = dup_text(st, 5);
    a.exit_code = sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 6);
    int stop = cb(ud, &a);
    tr_journal_attempt_free(&a);
    if (stop) { rc = SQLITE_DONE; break; }
  }
  release(j, st);
  return rc == SQLITE_DONE ? 0 : db_fail(j, "list the attempts");
}

static int sq_runs_list(tr_journal *j, tr_journal_run_cb cb, void *ud) {
  sqlite3_stmt *st = prepare(j, "SELECT " RUN_COLS " FROM runs ORDER BY id", "");
  if (!st) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tr_journal_run r;
    read_run(st, &r);
    int stop = cb(ud, &r);
    tr_journal_run_free(&r);
    if (stop) { rc = SQLITE_DONE; break; }
  }
  release(j, st);
  return rc == SQLITE_DONE ? 0 : db_fail(j, "list the runs");
}

static int sq_run_get(tr_journal *j, const char *ref, tr_journal_run *out) {
  memset(out, 0, sizeof *out);
  int rc = one_run(j, prepare(j, "SELECT " RUN_COLS " FROM runs WHERE CAST(id AS TEXT) = ?1",
                              "s", ref), out);
  if (rc != 1) return rc;
  return one_run(j, prepare(j, "SELECT " RUN_COLS " FROM runs WHERE key = ?1 ORDER BY id DESC "
                            "LIMIT 1", "s", ref), out);
}

static int sq_prune(tr_journal *j, double before, long long *removed) {
  *removed = 0;
  if (begin_write(j, 1) != 0) return -1;
  int rc = run_stmt(j, prepare(j, "DELETE FROM runs WHERE status IN (?1, ?2) AND ended < ?3",
                               "ssd", TR_RUN_FINISHED, TR_RUN_FAILED, before), "prune");
  if (rc == 0) *removed = sqlite3_changes(j->db);
  return rc;
}

/* ---- steps ---- */

/* Inserts a step's row, or, for a step run again after a crash (at least once), starts it over
 * in the same row. ended < 0: not ended. */
static int insert_step(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                       const char *state, double started, double ended, const char *result,
                       const char *error, const char *created_id) {
  sqlite3_stmt *st = prepare(j, "INSERT INTO steps (run_id, step_key, seq, state, started, ended,"
                             " result, error, created_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                             " ?9) ON CONFLICT (run_id, step_key, seq) DO UPDATE SET state = ?4, "
                             "started = ?5, ended = ?6, result = ?7, error = ?8, created_id = "
                             "coalesce(?9, created_id)", "ssisdsss", run_id, step_key, seq, state,
                             started, (const char *)NULL, result, error);
  if (!st) return -1;
  if (ended >= 0) sqlite3_bind_double(st, 6, ended);
  if (created_id) sqlite3_bind_text(st, 9, created_id, -1, SQLITE_TRANSIENT);
  return run_stmt(j, st, "record a step");
}

/* Holds a new record of a step that is not durable: its start, or an end whose start was
 * written before. Another run's records (held or packed) are written first; TR_HELD_MAX of
 * this run's are packed. */
static int hold(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                const char *state, double started, double ended, const char *result,
                const char *error, const char *created_id) {
  if ((j->recs.n || j->log.n) && strcmp(j->recs.run, run_id) != 0) {
    if (write_held(j) != 0) return -1;
  } else if (tr_held_full(&j->recs, run_id)) {
    if (pack_held(j) != 0 || (j->log.n >= LOG_MAX && write_held(j) != 0)) return -1;
  }
  if (!tr_held_add(&j->recs, run_id, step_key, seq, state, started, ended, result, error,
                   created_id))
    return fail(j, "journal: out of memory");
  if (!j->held) j->held = now();
  return 0;
}

static int sq_step_started(tr_journal *j, const char *run_id, const char *step_key,
                           long long seq, const char *data_json, int durable) {
  if (durable) {
    if (begin_write(j, 1) != 0) return -1;
    return insert_step(j, run_id, step_key, seq, TR_STEP_STARTED, now(), -1, data_json, NULL,
                       NULL);
  }
  return hold(j, run_id, step_key, seq, TR_STEP_STARTED, now(), -1, data_json, NULL, NULL);
}

/* Replays the run's step log into the steps table (in the batch), so that reads and updates of
 * steps see every record. Only the run's own process adds to its log; any process may replay it
 * (runs show does), inside a write transaction, so that two never apply one batch twice. */
static int replay_log(tr_journal *j, const char *run_id) {
  if (j->replayed && strcmp(j->replayed, run_id) == 0) return 0;
  sqlite3_stmt *st = prepare(j, "SELECT 1 FROM step_log WHERE run_id = ?1 LIMIT 1", "s", run_id);
  if (!st) return -1;
  int rc = sqlite3_step(st);
  release(j, st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(j, "read the step log");
  if (rc == SQLITE_ROW) {
    if (begin_write(j, 0) != 0) return -1;
    st = prepare(j, "SELECT id, records FROM step_log WHERE run_id = ?1 ORDER BY id", "s", run_id);
    if (!st) return -1;
    long long last = 0;
    int ok = 0;
    while (ok == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      last = sqlite3_column_int64(st, 0);
      const char *blob = sqlite3_column_blob(st, 1);
      size_t len = (size_t)sqlite3_column_bytes(st, 1), pos = 0;
      tr_step_record r;
      int more;
      while (ok == 0 && (more = tr_step_log_next(blob, len, &pos, &r)) != 0) {
        if (more < 0) {
          ok = fail(j, "journal: the step log of run %s in %s/journal.db is damaged (row %lld,"
                    " byte %zu): start the run over with --fresh, or look at the file with "
                    "sqlite3", run_id, j->dir, last, pos);
          break;
        }
        sqlite3_stmt *ins = prepare(j, "INSERT INTO steps (run_id, step_key, seq, state, "
          "started, ended, result, error, created_id) VALUES (?1, ?2, ?3, ?4, coalesce(?5, ?6), "
          "?6, ?7, ?8, ?9) ON CONFLICT (run_id, step_key, seq) DO UPDATE SET state = ?4, "
          "started = coalesce(?5, started), ended = ?6, result = ?7, error = ?8, created_id = "
          "coalesce(?9, created_id)", "ssis", run_id, r.key, r.seq, r.state);
        if (!ins) { ok = -1; break; }
        if (r.started >= 0) sqlite3_bind_double(ins, 5, r.started);
        if (r.ended >= 0) sqlite3_bind_double(ins, 6, r.ended);
        if (r.result) sqlite3_bind_text(ins, 7, r.result, -1, SQLITE_STATIC);
        if (r.error) sqlite3_bind_text(ins, 8, r.error, -1, SQLITE_STATIC);
        if (r.created_id) sqlite3_bind_text(ins, 9, r.created_id, -1, SQLITE_STATIC);
        ok = run_stmt(j, ins, "replay the step log");
      }
    }
    if (ok == 0 && rc != SQLITE_DONE) ok = db_fail(j, "read the step log");
    release(j, st);
    if (ok != 0) return -1;
    if (run_stmt(j, prepare(j, "DELETE FROM step_log WHERE run_id = ?1 AND id <= ?2", "si",
                            run_id, last), "clear the step log") != 0)
      return -1;
  }
  free(j->replayed);
  j->replayed = strdup(run_id);   /* none: replayed again next time, no harm */
  return 0;
}

/* Runs a durable UPDATE of one step (bound by the caller) once every record of the run is in
 * the steps table (the held ones and the step log's, committed first). Returns 1 when there is
 * no such step. */
static int update_step(tr_journal *j, const char *run_id, sqlite3_stmt *st, const char *what) {
  if (!st) return -1;
  if (write_held(j) != 0 || replay_log(j, run_id) != 0 || begin_write(j, 1) != 0) {
    release(j, st);
    return -1;
  }
  int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(j, what);
  release(j, st);
  return rc == 0 && sqlite3_changes(j->db) == 0 ? 1 : rc;
}

static int sq_step_ended(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                         const char *state, const char *result, const char *error,
                         const char *created_id, int durable) {
  tr_held_row *h = durable ? NULL : tr_held_find(&j->recs, run_id, step_key, seq);
  if (h) {
    /* Started and ended within one batch: its one record, still held, ends. */
    if (tr_held_update(&j->recs, h, state, -1, now(), result, error, created_id) != 0)
      return fail(j, "journal: out of memory");
    return 0;
  }
  if (!durable)
    return hold(j, run_id, step_key, seq, state, -1, now(), result, error, created_id);
  int rc = update_step(j, run_id, prepare(j, "UPDATE steps SET state = ?4, ended = ?5, result = "
                                          "?6, error = ?7, created_id = coalesce(?8, "
                                          "created_id) WHERE run_id = ?1 AND step_key = ?2 AND "
                                          "seq = ?3", "ssisdsss", run_id, step_key, seq, state,
                                          now(), result, error, created_id),
                       "record a step's end");
  if (rc == 1)
    return fail(j, "journal: step %s #%lld of run %s was never started", step_key, seq, run_id);
  return rc;
}

static int sq_step_resolve(tr_journal *j, const char *run_id, const char *step_key,
                           long long seq, const char *state, const char *created_id,
                           const char *resolution_json) {
  /* Settled as finished (an id adopted), the step ends now. */
  int rc = update_step(j, run_id, prepare(j, "UPDATE steps SET state = coalesce(?4, state), "
                                          "created_id = coalesce(?5, created_id), resolution = "
                                          "?6, ended = CASE WHEN ?4 = ?8 THEN ?7 ELSE ended END "
                                          "WHERE run_id = ?1 AND step_key = ?2 AND seq = ?3",
                                          "ssisssds", run_id, step_key, seq, state, created_id,
                                          resolution_json, now(), TR_STEP_FINISHED),
                       "record a resolution");
  if (rc == 1) return fail(j, "journal: run %s has no step %s #%lld", run_id, step_key, seq);
  return rc;
}

static int sq_created_known(tr_journal *j, const char *created_id) {
  sqlite3_stmt *st = prepare(j, "SELECT 1 FROM steps WHERE created_id = ?1 LIMIT 1", "s",
                             created_id);
  if (!st) return -1;
  int rc = sqlite3_step(st);
  release(j, st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(j, "look up a created id");
}

#define STEP_COLS "step_key, seq, state, started, ended, result, error, created_id, resolution"

static void read_step(sqlite3_stmt *st, tr_journal_step *s) {
  s->step_key = dup_text(st, 0);
  s->seq = sqlite3_column_int64(st, 1);
  s->state = dup_text(st, 2);
  s->started = sqlite3_column_double(st, 3);
  s->ended = col_time(st, 4);
  s->result = dup_text(st, 5);
  s->error = dup_text(st, 6);
  s->created_id = dup_text(st, 7);
  s->resolution = dup_text(st, 8);
}

static int sq_step_get(tr_journal *j, const char *run_id, const char *step_key, long long seq,
                       tr_journal_step *out) {
  memset(out, 0, sizeof *out);
  tr_held_row *h = tr_held_find(&j->recs, run_id, step_key, seq);
  if (h && h->started >= 0) {
    tr_held_step(h, out);
    return 0;
  }
  /* An end whose start was written before: the row needs both. */
  if (write_held(j) != 0 || replay_log(j, run_id) != 0) return -1;
  sqlite3_stmt *st = prepare(j, "SELECT " STEP_COLS " FROM steps WHERE run_id = ?1 AND "
                             "step_key = ?2 AND seq = ?3", "ssi", run_id, step_key, seq);
  if (!st) return -1;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) read_step(st, out);
  release(j, st);
  return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : db_fail(j, "read a step");
}

static int sq_steps_list(tr_journal *j, const char *run_id, tr_journal_step_cb cb, void *ud) {
  if (write_held(j) != 0 || replay_log(j, run_id) != 0) return -1;
  sqlite3_stmt *st = prepare(j, "SELECT " STEP_COLS " FROM steps WHERE run_id = ?1 ORDER BY "
                             "started, rowid", "s", run_id);
  if (!st) return -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    tr_journal_step s;
    read_step(st, &s);
    int stop = cb(ud, &s);
    tr_journal_step_free(&s);
    if (stop) { rc = SQLITE_DONE; break; }
  }
  release(j, st);
  return rc == SQLITE_DONE ? 0 : db_fail(j, "list the steps");
}

const tr_journal_ops tr_journal_sqlite = {
  "sqlite", sq_open, sq_close, sq_error, sq_flush, sq_held_since, sq_watch, sq_lost, sq_lock,
  sq_unlock, sq_held, sq_run_begin, sq_run_end, sq_attempts_list, sq_runs_list, sq_run_get,
  sq_prune,
  sq_step_started, sq_step_ended, sq_step_resolve, sq_created_known,
  sq_step_get, sq_steps_list,
};
