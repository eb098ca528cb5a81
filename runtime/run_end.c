/* The run's end (see run_end.h). In text, the report that ends a run is printed when it
 * happens, as before the tasks' <close> handlers run; in JSON it waits for the exit code, so
 * that a log pipeline gets one event with everything: the code, the error's kind, message,
 * provider, task_id, status and where. */
#include "run_end.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "durable.h"
#include "errors.h"
#include "log.h"
#include "logtail.h"
#include "metrics.h"
#include "output.h"
#include "ping.h"
#include "run.h"
#include "stackcheck.h"

#define MAX_FIELDS 8

/* A report held for the JSON end event: copies, since the Lua state is gone by then. */
typedef struct {
  int set;
  char *msg, *traceback;
  tr_log_field f[MAX_FIELDS];
  size_t n;
} held_report;

static struct {
  tr_end_opts o;
  double started_wall, started_mono;
  char rid[37];            /* --ping's run id: a UUID, as healthchecks.io requires */
  char *run_id;
  long long attempt;
  int finished;
  held_report end;
} E;

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A random (version 4) UUID. */
static void make_uuid(char out[37]) {
  unsigned char b[16] = { 0 };
  if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
    /* No randomness: the time still tells two runs apart. */
    double t = wall_now() * 1e6;
    memcpy(b, &t, sizeof t);
  }
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
           b[13], b[14], b[15]);
}

int tr_end_configure(const tr_end_opts *o) {
  E.o = *o;
  E.started_wall = wall_now();
  E.started_mono = mono_now();
  E.attempt = 1;
  make_uuid(E.rid);
  if (o->metrics_file) tr_metrics_enable();
  if (o->ping_url) tr_ping_secret(o->ping_url);
  if (o->hold) return tr_log_hold(TR_HOLD_BYTES);
  return o->ping_url ? tr_logtail_init(TR_PING_BODY) : 0;
}

/* "run 12 (attempt 2) of restore.lua": the run, for a ping's body. */
static void run_words(char *buf, size_t n) {
  if (E.run_id)
    snprintf(buf, n, "run %.100s (attempt %lld) of %.200s", E.run_id, E.attempt, E.o.runbook);
  else
    snprintf(buf, n, "a run of %.200s", E.o.runbook);
}

void tr_end_started(const char *run_id, long long attempt) {
  free(E.run_id);
  E.run_id = run_id ? strdup(run_id) : NULL;
  E.attempt = attempt;
  if (!E.o.ping_url) return;
  char body[400];
  run_words(body, sizeof body);
  size_t len = strlen(body);
  snprintf(body + len, sizeof body - len, " started\n");
  tr_ping_send(E.o.ping_url, "/start", E.rid, body, strlen(body), E.o.ping_timeout);
}

/* ---- reports ---- */

static void hold_field(held_report *h, const char *key, const char *value, int is_string) {
  if (h->n == MAX_FIELDS || !value) return;
  char *copy = strdup(value);
  if (!copy) return;
  h->f[h->n++] = (tr_log_field){ key, copy, is_string };
}

/* Keeps the report for the end event: the first one only, as the first decides the code. */
static int hold_report(const char *msg, const tr_log_field *f, size_t n, const char *traceback) {
  if (E.end.set) return 0;
  E.end.set = 1;
  E.end.msg = msg ? strdup(msg) : NULL;
  E.end.traceback = traceback ? strdup(traceback) : NULL;
  for (size_t i = 0; i < n; i++) hold_field(&E.end, f[i].key, f[i].value, f[i].is_string);
  return 1;
}

/* [-0, +k] The fields of the error value at idx that a log pipeline reads, each read raw (no
 * metamethod runs): kind, message, provider, task_id, status; then where. A string error is
 * its own message. The values stay on the stack: the caller drops them when done. */
static size_t error_fields(lua_State *L, int idx, const char *where, tr_log_field *f) {
  static const char *const keys[] = { "kind", "message", "provider", "task_id", "status" };
  size_t n = 0;
  if (lua_type(L, idx) == LUA_TTABLE) {
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
      lua_pushstring(L, keys[i]);
      int t = lua_rawget(L, idx);
      if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        /* tostring on the copy the stack holds: the table keeps its number. A number is a JSON
         * literal (a Redpanda id, an HTTP status); nan and inf are written as strings. */
        f[n++] = (tr_log_field){ keys[i], lua_tostring(L, -1), t == LUA_TSTRING };
      } else {
        lua_pop(L, 1);
      }
    }
  } else if (lua_type(L, idx) == LUA_TSTRING) {
    f[n++] = (tr_log_field){ "message", lua_tostring(L, idx), 1 };
  }
  if (where) f[n++] = (tr_log_field){ "where", where, 1 };
  return n;
}

void tr_end_report_error(lua_State *L, int idx, const char *prefix, const char *traceback,
                         const char *where, int ends) {
  TR_STACK_BEGIN(L);
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L);
  const char *text = tr_error_text(L, idx);
  if (prefix) {
    lua_pushstring(L, prefix);
    lua_pushvalue(L, -2);
    lua_concat(L, 2);
    text = lua_tostring(L, -1);
  }
  /* An expected failure's message says what failed and what to do: the path through
   * taskrun's stdlib to it is noise in a cron mail. */
  int expected = tr_error_expected(L, idx);
  if (expected && !tr_log_enabled(TR_LOG_DEBUG)) traceback = NULL;
  tr_log_field f[MAX_FIELDS];
  size_t n = error_fields(L, idx, where, f);
  if (!(ends && tr_log_is_json() && hold_report(text, f, n, traceback)))
    /* An unexpected error's traceback already says where, first thing: its text stays as it
     * always was. */
    tr_log_report_at(text, expected ? where : NULL, traceback, f, n);
  lua_settop(L, top);
  TR_STACK_END(L, 0, 0);
}

void tr_end_report(const char *kind, const char *msg) {
  tr_log_field f[2];
  size_t n = 0;
  if (kind) f[n++] = (tr_log_field){ "kind", kind, 1 };
  f[n++] = (tr_log_field){ "message", msg, 1 };
  if (!(tr_log_is_json() && hold_report(msg, f, n, NULL))) tr_log_report(msg, NULL);
}

void tr_end_note_error(lua_State *L, int idx, const char *where) {
  if (!tr_log_is_json() || E.end.set) return;
  TR_STACK_BEGIN(L);
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L);
  const char *text = tr_error_text(L, idx);
  tr_log_field f[MAX_FIELDS];
  size_t n = error_fields(L, idx, where, f);
  hold_report(text, f, n, NULL);
  lua_settop(L, top);
  TR_STACK_END(L, 0, 0);
}

/* ---- the end ---- */

/* The one JSON event a run ends with. */
static void end_event(int code, double elapsed) {
  int failed = code != 0;
  if (!failed && !tr_log_enabled(TR_LOG_INFO)) return;
  char exit_text[16], elapsed_text[32], attempt_text[24], msg[64];
  snprintf(exit_text, sizeof exit_text, "%d", code);
  snprintf(elapsed_text, sizeof elapsed_text, "%.3f", elapsed);
  snprintf(attempt_text, sizeof attempt_text, "%lld", E.attempt);
  tr_log_field f[5 + MAX_FIELDS];
  size_t n = 0;
  f[n++] = (tr_log_field){ "event", "run_end", 1 };
  f[n++] = (tr_log_field){ "exit_code", exit_text, 0 };
  f[n++] = (tr_log_field){ "elapsed", elapsed_text, 0 };
  if (E.run_id) {
    f[n++] = (tr_log_field){ "run_id", E.run_id, 1 };
    f[n++] = (tr_log_field){ "attempt", attempt_text, 0 };
  }
  for (size_t i = 0; i < E.end.n; i++) f[n++] = E.end.f[i];
  const char *text = E.end.msg;
  if (!text) {
    snprintf(msg, sizeof msg, failed ? "the run ended with exit %d" : "the run finished", code);
    text = msg;
  }
  tr_log_event(failed ? TR_LOG_ERROR : TR_LOG_INFO, text, f, n, E.end.traceback);
}

/* The last ping: success, or the exit code with the tail of the log as its body. */
static void last_ping(int code, double elapsed) {
  char suffix[16] = "";
  char words[400];
  size_t len = 0;
  unsigned long long dropped = 0;
  char *body = NULL;
  if (code != 0) {
    snprintf(suffix, sizeof suffix, "/%d", code);
    body = tr_logtail_text(TR_PING_BODY, &len, &dropped);
  }
  if (!body) {
    run_words(words, sizeof words);
    len = strlen(words);
    snprintf(words + len, sizeof words - len, " %s with exit %d after %.1fs\n",
             code ? "failed" : "finished", code, elapsed);
    len = strlen(words);
  }
  tr_ping_send(E.o.ping_url, suffix, E.rid, body ? body : words, len, E.o.ping_timeout);
  free(body);
}

static void write_metrics(int code, double ended, double elapsed) {
  tr_metrics_run run = { E.o.runbook, ended, elapsed, code };
  char err[300];
  if (tr_metrics_write(E.o.metrics_file, &run, err, sizeof err) != 0)
    tr_logf(TR_LOG_WARN, "--metrics-file %s: %s; the run's exit code is not changed by it",
            E.o.metrics_file, err);
}

static void free_held(void) {
  free(E.end.msg);
  free(E.end.traceback);
  for (size_t i = 0; i < E.end.n; i++) free((char *)E.end.f[i].value);
  memset(&E.end, 0, sizeof E.end);
}

int tr_end_finish(int code) {
  if (E.finished) return code;
  E.finished = 1;
  double elapsed = mono_now() - E.started_mono;
  double ended = E.started_wall + elapsed;
  if (tr_log_is_json()) end_event(code, elapsed);
  /* The held lines first: what follows (a metrics file or a ping that failed) is news even
   * when the run went well, so it is written, not held. */
  tr_log_release(code != 0);
  if (code != TR_EXIT_LOCKED) {
    if (E.o.metrics_file) write_metrics(code, ended, elapsed);
    if (E.o.ping_url) last_ping(code, elapsed);
  }
  tr_logtail_free();
  tr_metrics_free();
  free_held();
  free(E.run_id);
  E.run_id = NULL;
  return code;
}

/* os.exit(code [, close]) ends the run by itself, skipping the end of main: its end is recorded
 * in the journal, stdout's last flush checked, and its end reported here before the process
 * goes, with the code all that decided. */
static int os_exit(lua_State *L) {
  int code = lua_isnoneornil(L, 1) ? 0 : lua_isboolean(L, 1) ? !lua_toboolean(L, 1)
             : (int)luaL_optinteger(L, 1, 0);
  code = tr_durable_end(code, 0);
  code = tr_output_finish(code);
  code = tr_end_finish(code);
  lua_pushinteger(L, code);
  if (lua_gettop(L) > 1) lua_replace(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 0);
  return 0;
}

void tr_end_install(lua_State *L) {
  TR_STACK_BEGIN(L);
  lua_getglobal(L, "os");
  lua_getfield(L, -1, "exit");
  lua_pushcclosure(L, os_exit, 1);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
}
