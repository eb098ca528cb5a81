/* Logging. Every line goes through tr_redact, so a token that reached a message by any path
 * (a URL, a vendor echo, a user's own log call) still never reaches the terminal or cron mail.
 * Text that is not ours is escaped first (escape.c): text lines stay one line each and carry no
 * escape sequence, JSON lines always parse. The secrets themselves live in secrets.c. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "logtail.h"
#include "secrets.h"
#include "status.h"

static struct {
  tr_log_level min;
  int json, quiet;
  int reports_off;
  int hold;          /* --log-on-failure: lines go to the tail (logtail.c), not to stderr */
} lg = { TR_LOG_INFO, 0, 0, 0, 0 };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void tr_log_configure(tr_log_level min, int json, int quiet) {
  lg.min = min;
  lg.json = json;
  lg.quiet = quiet;
}

int tr_log_enabled(tr_log_level level) {
  if (lg.quiet && level < TR_LOG_ERROR) return 0;
  return level >= lg.min;
}

int tr_log_is_json(void) { return lg.json; }

int tr_log_is_quiet(void) { return lg.quiet; }

int tr_log_color(void) {
  const char *no = getenv("NO_COLOR");
  return !lg.json && isatty(STDERR_FILENO) && !(no && *no);
}

int tr_log_parse_level(const char *name) {
  for (int i = 0; i < 4; i++)
    if (strcmp(name, level_names[i]) == 0) return i;
  return -1;
}

/* ---- formatting ---- */

static void put_json_string(tr_buf *b, const char *s) {
  tr_buf_put(b, "\"", 1);
  tr_escape_json(b, s, strlen(s), TR_JSON_LOG);
  tr_buf_put(b, "\"", 1);
}

/* A number or boolean as Lua wrote it is a JSON literal, except nan and inf: those, or anything
 * else a caller passed as "not a string", are written as strings, so every line parses. */
static int is_json_literal(const char *v) {
  if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0 || strcmp(v, "null") == 0) return 1;
  const char *p = v;
  if (*p == '-') p++;
  if (*p == '0') p++;
  else if (*p >= '1' && *p <= '9') while (*p >= '0' && *p <= '9') p++;
  else return 0;
  if (*p == '.') {
    if (!(*++p >= '0' && *p <= '9')) return 0;
    while (*p >= '0' && *p <= '9') p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!(*p >= '0' && *p <= '9')) return 0;
    while (*p >= '0' && *p <= '9') p++;
  }
  return *p == '\0';
}

/* One word a reader cannot misread: not empty, no space, quote or '=', nothing the text
 * escaping would change. */
static int is_plain_word(const char *v) {
  if (!*v) return 0;
  size_t len = strlen(v);
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)v[i];
    if (c <= ' ' || c == '"' || c == '=' || c == 0x7f) return 0;
    size_t n = tr_utf8_char((const unsigned char *)v + i, len - i);
    if (n == 0 || (n == 2 && c == 0xc2 && (unsigned char)v[i + 1] <= 0x9f)) return 0;
    i += n;
  }
  return 1;
}

/* Text values are quoted (JSON-escaped) only when they would not read as one word. */
static void put_text_value(tr_buf *b, const char *v, int is_string) {
  if (is_plain_word(v) || (!is_string && is_json_literal(v))) tr_buf_puts(b, v);
  else put_json_string(b, v);
}

static void put_text(tr_buf *b, const char *s, tr_text_style style) {
  tr_escape_text(b, s, strlen(s), style);
}

static void timestamp(char *out, size_t n) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + len, n - len, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static void format_line(tr_buf *b, tr_log_level level, const char *msg, const tr_log_field *f,
                        size_t nf, const char *traceback) {
  char ts[40];
  timestamp(ts, sizeof ts);
  if (lg.json) {
    tr_buf_puts(b, "{\"time\":\"");
    tr_buf_puts(b, ts);
    tr_buf_puts(b, "\",\"level\":\"");
    tr_buf_puts(b, level_names[level]);
    tr_buf_puts(b, "\",\"msg\":");
    put_json_string(b, msg);
    for (size_t i = 0; i < nf; i++) {
      tr_buf_puts(b, ",");
      put_json_string(b, f[i].key);
      tr_buf_puts(b, ":");
      if (!f[i].is_string && is_json_literal(f[i].value)) tr_buf_puts(b, f[i].value);
      else put_json_string(b, f[i].value);
    }
    if (traceback) {
      tr_buf_puts(b, ",\"traceback\":");
      put_json_string(b, traceback);
    }
    tr_buf_puts(b, "}\n");
    return;
  }
  char head[64];
  const char *name = level == TR_LOG_WARN ? "WARN" : level == TR_LOG_ERROR ? "ERROR" :
                     level == TR_LOG_INFO ? "INFO" : "DEBUG";
  /* Only the level word, and only the two that ask for attention: yellow and red. */
  const char *on = level == TR_LOG_WARN ? "\033[33m" : level == TR_LOG_ERROR ? "\033[31m" : "";
  if (*on && tr_log_color())
    snprintf(head, sizeof head, "%s %s%-5s\033[0m ", ts, on, name);
  else
    snprintf(head, sizeof head, "%s %-5s ", ts, name);
  tr_buf_puts(b, head);
  /* Vendor text lands in messages and values: a newline in it must not forge a line, nor an
   * escape sequence reach the terminal. */
  put_text(b, msg, TR_TEXT_LINE);
  for (size_t i = 0; i < nf; i++) {
    tr_buf_puts(b, " ");
    put_text(b, f[i].key, TR_TEXT_LINE);
    tr_buf_puts(b, "=");
    put_text_value(b, f[i].value, f[i].is_string);
  }
  tr_buf_puts(b, "\n");
  if (traceback) {
    put_text(b, traceback, TR_TEXT_BLOCK);
    tr_buf_puts(b, "\n");
  }
}

static void format_report(tr_buf *b, const char *msg, const char *where, const char *traceback,
                          const tr_log_field *f, size_t nf) {
  if (lg.json) {
    format_line(b, TR_LOG_ERROR, msg, f, nf, traceback);
    return;
  }
  /* Plain "taskrun: ..." like other Unix tools: this is what lands in a cron mail. A message of
   * several lines keeps them, indented, so none can pass for a line of its own. */
  tr_buf_puts(b, "taskrun: ");
  put_text(b, msg, TR_TEXT_BLOCK);
  tr_buf_puts(b, "\n");
  if (where) {
    tr_buf_puts(b, "\tat ");
    put_text(b, where, TR_TEXT_LINE);
    tr_buf_puts(b, "\n");
  }
  if (traceback) {
    put_text(b, traceback, TR_TEXT_BLOCK);
    tr_buf_puts(b, "\n");
  }
}

/* Writes redacted text to stderr, in one write, with the live status block out of its way. */
static void write_stderr(const char *s, size_t len) {
  tr_status_hide();
  fwrite(s, 1, len, stderr);
  tr_status_show();
  fflush(stderr);
}

/* Writes the line redacted: to stderr, or only to the tail while --log-on-failure holds it. */
static void emit(tr_buf *b) {
  if (!b->p) return;
  size_t len = 0;
  char *safe = tr_redact(b->p, b->n, &len);
  free(b->p);
  if (!safe) return;
  if (!tr_log_capture(safe, len)) write_stderr(safe, len);
  free(safe);
}

int tr_log_capture(const char *s, size_t len) {
  tr_logtail_add(s, len);
  return lg.hold;
}

int tr_log_hold(size_t bytes) {
  if (tr_logtail_init(bytes) != 0) return -1;
  lg.hold = 1;
  return 0;
}

int tr_log_is_holding(void) { return lg.hold; }

void tr_log_release(int show) {
  if (!lg.hold) return;
  lg.hold = 0;
  if (!show) return;
  size_t len;
  unsigned long long dropped;
  char *text = tr_logtail_text(0, &len, &dropped);
  if (dropped) {
    char msg[160];
    snprintf(msg, sizeof msg, "--log-on-failure kept the last %zu KiB of the log: %llu earlier "
             "line%s dropped", tr_logtail_cap() / 1024, dropped, dropped == 1 ? " was" : "s were");
    tr_buf b = { 0 };
    format_line(&b, TR_LOG_WARN, msg, NULL, 0, NULL);
    if (b.p) write_stderr(b.p, b.n);
    free(b.p);
  }
  /* Redacted again: a secret registered after a line was held (a token obtained later) is
   * masked in it too. */
  size_t n = 0;
  char *safe = text ? tr_redact(text, len, &n) : NULL;
  if (safe) write_stderr(safe, n);
  free(safe);
  free(text);
}

void tr_log(tr_log_level level, const char *msg, const tr_log_field *fields, size_t nfields) {
  if (!tr_log_enabled(level)) return;
  tr_buf b = { 0 };
  format_line(&b, level, msg, fields, nfields, NULL);
  emit(&b);
}

void tr_logf(tr_log_level level, const char *fmt, ...) {
  if (!tr_log_enabled(level)) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tr_log(level, msg, NULL, 0);
}

void tr_log_report(const char *msg, const char *traceback) {
  tr_log_report_at(msg, NULL, traceback, NULL, 0);
}

void tr_log_report_at(const char *msg, const char *where, const char *traceback,
                      const tr_log_field *fields, size_t nfields) {
  if (lg.reports_off) return;
  tr_buf b = { 0 };
  format_report(&b, msg, where, traceback, fields, nfields);
  emit(&b);
}

void tr_log_event(tr_log_level level, const char *msg, const tr_log_field *fields,
                  size_t nfields, const char *traceback) {
  tr_buf b = { 0 };
  format_line(&b, level, msg, fields, nfields, traceback);
  emit(&b);
}

void tr_log_reports_off(int off) { lg.reports_off = off; }

char *tr_log_format(int report, tr_log_level level, const char *msg, const tr_log_field *fields,
                    size_t nfields, const char *traceback, size_t *outlen) {
  tr_buf b = { 0 };
  if (report) format_report(&b, msg, NULL, traceback, NULL, 0);
  else format_line(&b, level, msg, fields, nfields, traceback);
  if (!b.p) return NULL;
  char *safe = tr_redact(b.p, b.n, outlen);
  free(b.p);
  return safe;
}
