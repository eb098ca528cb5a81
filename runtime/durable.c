/* Durable runs, above the journal interface (journal.h): the state directory, the run's key,
 * resume or start over, the key lock and --lock, taskrun.run, and the run's end. */
#include "durable.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "hash.h"
#include "log.h"
#include "run.h"
#include "run_end.h"
#include "secrets.h"
#include "signals.h"

static struct {
  const tr_journal_ops *ops;
  tr_journal *j;             /* open while a run holds locks */
  tr_journal_run run;        /* the journaled run (run.id NULL: not journaled) */
  int resumed;
  const char *run_id;        /* --run-id */
  int retry_failed;          /* --retry-failed */
  int in_doubt;              /* a provider call was sent and its answer lost */
  int flush_failed;          /* the journal could not commit: the run must stop */
  double watch_at;           /* when (epoch seconds) to watch the journal's locks next; 0: never */
} d;

/* The journal's URL, when the journal is a database's (tr_journal_select). */
static char *journal_url;

const char *tr_journal_url(void) {
  return journal_url;
}

const tr_journal_ops *tr_journal_backend(void) {
  return journal_url ? &tr_journal_pg : &tr_journal_sqlite;
}

/* The contents of the file `path` names, its trailing newlines dropped; NULL when unreadable. */
static char *read_small_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  int bad = ferror(f) || !feof(f);
  fclose(f);
  if (bad) return NULL;
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
  buf[n] = '\0';
  return strdup(buf);
}

int tr_journal_select(const char *flag, char *err, size_t errlen) {
  const char *v = getenv("TASKRUN_JOURNAL_URL"), *file = getenv("TASKRUN_JOURNAL_URL_FILE");
  char *url = NULL;
  if (flag) url = strdup(flag);
  else if (v && *v) url = strdup(v);
  else if (file && *file && !(url = read_small_file(file))) {
    snprintf(err, errlen, "cannot read TASKRUN_JOURNAL_URL_FILE %s: %s", file, strerror(errno));
    return -1;
  }
  if (!url) return flag || (v && *v) || (file && *file) ? -1 : 0;
  /* Before anything can print it: the password is redacted from every output. */
  tr_secret_add_url_password(url);
  if (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0) {
    tr_buf shown = { 0 };
    tr_escape_text(&shown, url, strlen(url) < 64 ? strlen(url) : 64, TR_TEXT_LINE);
    tr_buf_put(&shown, "", 1);
    char *clean = shown.p ? tr_redact(shown.p, strlen(shown.p), NULL) : NULL;
    snprintf(err, errlen, "the journal URL \"%s\" is not a postgresql:// URL (the journal is "
             "either SQLite's in the state directory, by default, or a PostgreSQL database's)",
             clean ? clean : "");
    free(clean);
    free(shown.p);
    free(url);
    return -1;
  }
  free(journal_url);
  journal_url = url;
  return 0;
}

int tr_state_dir_resolve(const char *flag, char *buf, size_t n) {
  const char *v;
  int len;
  if (flag && *flag) len = snprintf(buf, n, "%s", flag);
  else if ((v = getenv("TASKRUN_STATE_DIR")) && *v) len = snprintf(buf, n, "%s", v);
  else if ((v = getenv("XDG_STATE_HOME")) && *v == '/') len = snprintf(buf, n, "%s/taskrun", v);
  else if ((v = getenv("HOME")) && *v) len = snprintf(buf, n, "%s/.local/state/taskrun", v);
  else len = snprintf(buf, n, "/var/lib/taskrun");
  return len > 0 && (size_t)len < n ? 0 : -1;
}

/* mkdir -p, each missing directory with mode 0700 (the XDG base directory rule). */
static int make_dirs(const char *dir) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = path + 1; ; p++) {
    if (*p != '/' && *p != '\0') continue;
    char c = *p;
    *p = '\0';
    if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
    if (c == '\0') break;
    *p = c;
  }
  struct stat st;
  if (stat(dir, &st) != 0) return -1;
  if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
  return access(dir, W_OK | X_OK);
}

tr_journal *tr_journal_open_dir(const char *dir, int create, int *missing, int *transient,
                                char *err, size_t errlen) {
  struct stat st;
  *missing = 0;
  *transient = 0;
  if (journal_url) return tr_journal_pg.open(journal_url, err, errlen, transient);
  if (!create && stat(dir, &st) != 0 && errno == ENOENT) {
    *missing = 1;
    snprintf(err, errlen, "%s does not exist", dir);
    return NULL;
  }
  if (create && make_dirs(dir) != 0) {
    snprintf(err, errlen, "%s", strerror(errno));
    return NULL;
  }
  return tr_journal_sqlite.open(dir, err, errlen, transient);
}

/* Appends a JSON array of the strings to b. */
static void json_strings(tr_buf *b, const char *first, char **args, int nargs) {
  tr_buf_puts(b, "[");
  if (first) {
    tr_buf_puts(b, "\"");
    tr_escape_json(b, first, strlen(first), TR_JSON_LOG);
    tr_buf_puts(b, nargs ? "\"," : "\"");
  }
  for (int i = 0; i < nargs; i++) {
    tr_buf_puts(b, "\"");
    tr_escape_json(b, args[i], strlen(args[i]), TR_JSON_LOG);
    tr_buf_puts(b, i + 1 < nargs ? "\"," : "\"");
  }
  tr_buf_put(b, "]", 2);   /* with its NUL */
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void format_time(double t, char *buf, size_t n) {
  time_t s = (time_t)t;
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The script's text as a 64-bit FNV-1a hash in hex: enough to tell that it changed (not a
 * defence against anyone). Returns 0, or -1 when it cannot be read. */
static int script_hash(const char *path, char *out, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  uint64_t h = TR_FNV1A64_INIT;
  unsigned char buf[8192];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) h = tr_fnv1a64(h, buf, got);
  fclose(f);
  snprintf(out, n, "fnv1a64:%016llx", (unsigned long long)h);
  return 0;
}

static int report(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int report(int code, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tr_end_report(code == TR_EXIT_USAGE ? "usage" : NULL, msg);
  return code;
}

static void close_journal(void) {
  if (d.j) d.ops->close(d.j);
  d.j = NULL;
  tr_journal_run_free(&d.run);
}

/* Takes the lock `name`, waiting up to `wait` seconds in short polls that a signal ends.
 * Returns 0, 1 when held (holder filled), -1 on an error. */
static int take_lock(const char *name, double wait, const char *wait_text, const char *what,
                     tr_journal_holder *holder) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int tries = 0; ; tries++) {
    int rc = d.ops->lock(d.j, name, 0, holder);
    if (rc != 1 || wait <= 0 || tr_signals_pending()) return rc;
    if (tries == 0)
      tr_logf(TR_LOG_INFO, "waiting up to %s for %s held by pid %lld", wait_text, what,
              holder->pid);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((double)(t.tv_sec - start.tv_sec) + (t.tv_nsec - start.tv_nsec) / 1e9 >= wait) return 1;
    struct timespec nap = { 0, 50 * 1000 * 1000 };
    nanosleep(&nap, NULL);
  }
}

static int locked(const char *what, const tr_journal_holder *h) {
  char since[64] = "an unknown time";
  if (h->started > 0) format_time(h->started, since, sizeof since);
  if (h->pid > 0)
    return report(TR_EXIT_LOCKED, "%s is held by pid %lld since %s%s%s: nothing was run; try "
                  "again after it ends", what, h->pid, since, *h->host ? " on host " : "",
                  h->host);
  return report(TR_EXIT_LOCKED, "%s is held by another taskrun: nothing was run; try again after "
                "it ends", what);
}

int tr_durable_begin(const tr_durable_opts *o, const char *script, char **args, int nargs) {
  d.ops = tr_journal_backend();
  d.run_id = o->run_id;
  d.retry_failed = o->retry_failed;
  char real[PATH_MAX];
  /* -e runs are journaled only under an explicit --run-id; a script that does not exist is
   * left for the loader to report. */
  int resolved = script && realpath(script, real);
  int journaled = !o->no_journal && (o->run_id || resolved);
  if (!journaled && !o->lock) return -1;
  char dir[PATH_MAX], err[1024];
  int missing, transient;
  if (journal_url) snprintf(dir, sizeof dir, "the journal database %s", journal_url);
  else if (tr_state_dir_resolve(o->state_dir, dir, sizeof dir) != 0)
    return report(2, "the state directory's name is too long: give another with --state-dir DIR,"
                  " or run with --no-journal");
  if (!(d.j = tr_journal_open_dir(dir, 1, &missing, &transient, err, sizeof err))) {
    if (transient)
      return report(TR_EXIT_LOCKED, "cannot reach %s: %s; nothing was run: try again later",
                    dir, err);
    if (journal_url)
      return report(2, "cannot use %s: %s; check --journal or TASKRUN_JOURNAL_URL, or run with "
                    "--no-journal", dir, err);
    return report(2, "cannot use the state directory %s: %s; give a writable one with "
                  "--state-dir DIR, or run with --no-journal", dir, err);
  }
  tr_journal_holder holder;
  char name[PATH_MAX + 64];
  tr_buf key = { 0 }, argv = { 0 };
  int rc, code = -1;
  if (journaled) {
    if (o->run_id) tr_buf_put(&key, o->run_id, strlen(o->run_id) + 1);
    else json_strings(&key, real, args, nargs);
    json_strings(&argv, NULL, args, nargs);
    if (key.failed || argv.failed) { code = report(1, "out of memory"); goto done; }
    snprintf(name, sizeof name, "key:%s", key.p);
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "run %s", o->run_id ? o->run_id : key.p);
    if ((rc = take_lock(name, 0, NULL, what, &holder)) != 0) {
      code = rc > 0 ? locked(what, &holder) : report(1, "%s", d.ops->error(d.j));
      goto done;
    }
  }
  if (o->lock) {
    snprintf(name, sizeof name, "name:%s", o->lock);
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "the lock \"%s\"", o->lock);
    if ((rc = take_lock(name, o->lock_wait, o->lock_wait_text, what, &holder)) != 0) {
      code = rc > 0 ? locked(what, &holder) : report(1, "%s", d.ops->error(d.j));
      goto done;
    }
  }
  if (journaled) {
    char host[256] = "", hash[64];
    gethostname(host, sizeof host - 1);
    int hashed = resolved && script_hash(real, hash, sizeof hash) == 0;
    if (d.ops->run_begin(d.j, key.p, resolved ? real : script ? script : "-e", argv.p,
                         hashed ? hash : NULL, o->fresh, (long long)getpid(), host, &d.run,
                         &d.resumed) != 0)
      code = report(1, "cannot begin the run in the journal in %s: %s", dir, d.ops->error(d.j));
    else if (d.resumed && hashed && d.run.script_hash && strcmp(d.run.script_hash, hash) != 0)
      /* The steps recorded so far came from the old text: say so, and go on. */
      tr_logf(TR_LOG_WARN, "%s changed since run %s began (attempt 1): steps already recorded "
              "are not run again; check that the runbook still makes them the same way, or "
              "start over with --fresh", real, d.run.id);
  }
done:
  free(key.p);
  free(argv.p);
  if (code >= 0) {
    close_journal();
  } else {
    double next_in;
    d.ops->watch(d.j, &next_in);
    d.watch_at = next_in >= 0 ? wall_now() + next_in : 0;
  }
  return code;
}

void tr_durable_push_run(lua_State *L) {
  lua_getglobal(L, "taskrun");
  lua_createtable(L, 0, 3);
  if (d.run_id) lua_pushstring(L, d.run_id);
  else if (d.run.id) lua_pushstring(L, d.run.id);
  else lua_pushnil(L);
  lua_setfield(L, -2, "id");
  lua_pushboolean(L, d.resumed);
  lua_setfield(L, -2, "resumed");
  lua_pushinteger(L, d.run.id ? (lua_Integer)d.run.attempt : 1);
  lua_setfield(L, -2, "attempt");
  lua_setfield(L, -2, "run");
  lua_pop(L, 1);
}

const char *tr_durable_run_id(void) {
  return d.run_id ? d.run_id : d.run.id;
}

void tr_durable_mark_in_doubt(void) {
  d.in_doubt = 1;
}

double tr_durable_run_started(void) {
  return d.run.id ? d.run.started : 0;
}

long long tr_durable_attempt(void) {
  return d.run.id ? d.run.attempt : 1;
}

int tr_durable_resumed(void) {
  return d.run.id && d.resumed;
}

int tr_durable_retry_failed(void) {
  return d.retry_failed;
}

tr_journal *tr_durable_current(const tr_journal_ops **ops, const char **run_id) {
  *ops = d.ops;
  *run_id = d.run.id;
  return d.run.id ? d.j : NULL;
}

/* The journal is lost to the run (journal.h: lost): say so once; the run stops, resumable. */
static int lost(void) {
  if (!d.flush_failed)
    report(TR_EXIT_LOCKED, "%s; the run stops here, resumable: run it again (on any host) to go "
           "on", d.ops->error(d.j));
  d.flush_failed = TR_EXIT_LOCKED;
  return TR_EXIT_LOCKED;
}

int tr_durable_flush(void) {
  if (d.flush_failed) return d.flush_failed;
  if (!d.j) return 0;
  if (d.ops->lost(d.j)) return lost();
  if (d.watch_at > 0 && wall_now() >= d.watch_at) {
    double next_in;
    if (d.ops->watch(d.j, &next_in) != 0) return lost();
    d.watch_at = next_in >= 0 ? wall_now() + next_in : 0;
  }
  if (!d.run.id || d.ops->held_since(d.j) <= 0 || d.ops->flush(d.j) == 0) return 0;
  if (d.ops->lost(d.j)) return lost();
  report(1, "cannot record the run's steps in the journal: %s; the run stops so that it can be "
         "resumed", d.ops->error(d.j));
  d.flush_failed = 1;
  return 1;
}

double tr_durable_flush_in(void) {
  if (d.flush_failed || (d.j && d.ops->lost(d.j))) return 0;
  if (!d.j) return -1;
  double t = wall_now(), left = -1;
  double since = d.run.id ? d.ops->held_since(d.j) : 0;
  if (since > 0) left = since + TR_JOURNAL_BATCH - t;
  if (d.watch_at > 0 && (left < 0 || d.watch_at - t < left)) left = d.watch_at - t;
  return left < 0 && (since > 0 || d.watch_at > 0) ? 0 : left;
}

int tr_durable_end(int code, int deadline_fired) {
  if (!d.j) return code;
  if (d.flush_failed == TR_EXIT_LOCKED || d.ops->lost(d.j)) {
    /* Nothing more is written: another process may run the key now, or the database is
     * gone. The run's row says "running" with nobody holding its lock: interrupted. */
    lost();
    close_journal();
    return TR_EXIT_LOCKED;
  }
  if (d.run.id) {
    const char *status = code == 128 + SIGINT || code == 128 + SIGTERM ||
                         (code == 4 && deadline_fired) ? TR_RUN_INTERRUPTED
                         : code == TR_EXIT_IN_DOUBT || (code != 0 && d.in_doubt)
                         ? TR_RUN_IN_DOUBT
                         : code == 0 ? TR_RUN_FINISHED : TR_RUN_FAILED;
    if (d.ops->run_end(d.j, d.run.id, status, code) != 0) {
      report(1, "cannot record the run's end in the journal: %s", d.ops->error(d.j));
      if (code == 0) code = 1;
    }
  }
  close_journal();
  return code;
}
