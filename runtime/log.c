/* Logging. Every line goes through tr_redact, so a token that reached a message by any path
 * (a URL, a vendor echo, a user's own log call) still never reaches the terminal or cron mail. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

static struct {
  tr_log_level min;
  int json, quiet;
  char **secrets;
  size_t nsecrets;
} lg = { TR_LOG_INFO, 0, 0, NULL, 0 };

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

void tr_log_add_secret(const char *secret) {
  /* Short strings would redact ordinary words; real tokens are long. */
  if (!secret || strlen(secret) < 6) return;
  for (size_t i = 0; i < lg.nsecrets; i++)
    if (strcmp(lg.secrets[i], secret) == 0) return;
  char **v = realloc(lg.secrets, (lg.nsecrets + 1) * sizeof *v);
  if (!v) return;
  lg.secrets = v;
  char *copy = strdup(secret);
  if (copy) lg.secrets[lg.nsecrets++] = copy;
}

void tr_log_free_secrets(void) {
  for (size_t i = 0; i < lg.nsecrets; i++) free(lg.secrets[i]);
  free(lg.secrets);
  lg.secrets = NULL;
  lg.nsecrets = 0;
}

char *tr_redact(const char *s, size_t len, size_t *outlen) {
  static const char mask[] = "[REDACTED]";
  size_t cap = len + 1, n = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  for (size_t i = 0; i < len;) {
    size_t hit = 0;
    for (size_t k = 0; k < lg.nsecrets && !hit; k++) {
      size_t sl = strlen(lg.secrets[k]);
      if (sl <= len - i && memcmp(s + i, lg.secrets[k], sl) == 0) hit = sl;
    }
    const char *piece = hit ? mask : s + i;
    size_t plen = hit ? sizeof mask - 1 : 1;
    if (n + plen + 1 > cap) {
      cap = (n + plen + 1) * 2;
      char *grown = realloc(out, cap);
      if (!grown) { free(out); return NULL; }
      out = grown;
    }
    memcpy(out + n, piece, plen);
    n += plen;
    i += hit ? hit : 1;
  }
  out[n] = '\0';
  if (outlen) *outlen = n;
  return out;
}

/* Grows a line in memory, so each log line reaches stderr in one write. */
typedef struct { char *p; size_t n, cap; } buf;

static void put(buf *b, const char *s, size_t len) {
  if (b->n + len + 1 > b->cap) {
    size_t cap = (b->n + len + 1) * 2;
    char *p = realloc(b->p, cap);
    if (!p) return;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_json_string(buf *b, const char *s) {
  put(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; put(b, esc, 2); }
    else if (c == '\n') puts_(b, "\\n");
    else if (c == '\t') puts_(b, "\\t");
    else if (c == '\r') puts_(b, "\\r");
    else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); puts_(b, esc); }
    else put(b, (const char *)&c, 1);
  }
  put(b, "\"", 1);
}

/* Text values are quoted only when they would not read as one word. */
static void put_text_value(buf *b, const char *v, int is_string) {
  if (!is_string || (*v && strpbrk(v, " \t\n\"=") == NULL)) { puts_(b, v); return; }
  put_json_string(b, v);
}

static void timestamp(char *out, size_t n) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + len, n - len, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static void emit(buf *b) {
  if (!b->p) return;
  size_t len = 0;
  char *safe = tr_redact(b->p, b->n, &len);
  /* A live status block gives way for the line and comes back under it. */
  tr_status_hide();
  if (safe) fputs(safe, stderr);
  tr_status_show();
  free(safe);
  fflush(stderr);
  free(b->p);
}

static void format_line(buf *b, tr_log_level level, const char *msg, const tr_log_field *f,
                        size_t nf, const char *traceback) {
  char ts[40];
  timestamp(ts, sizeof ts);
  if (lg.json) {
    puts_(b, "{\"time\":\"");
    puts_(b, ts);
    puts_(b, "\",\"level\":\"");
    puts_(b, level_names[level]);
    puts_(b, "\",\"msg\":");
    put_json_string(b, msg);
    for (size_t i = 0; i < nf; i++) {
      puts_(b, ",");
      put_json_string(b, f[i].key);
      puts_(b, ":");
      if (f[i].is_string) put_json_string(b, f[i].value);
      else puts_(b, f[i].value);
    }
    if (traceback) {
      puts_(b, ",\"traceback\":");
      put_json_string(b, traceback);
    }
    puts_(b, "}\n");
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
  puts_(b, head);
  puts_(b, msg);
  for (size_t i = 0; i < nf; i++) {
    puts_(b, " ");
    puts_(b, f[i].key);
    puts_(b, "=");
    put_text_value(b, f[i].value, f[i].is_string);
  }
  puts_(b, "\n");
  if (traceback) {
    puts_(b, traceback);
    puts_(b, "\n");
  }
}

void tr_log(tr_log_level level, const char *msg, const tr_log_field *fields, size_t nfields) {
  if (!tr_log_enabled(level)) return;
  buf b = { 0 };
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
  buf b = { 0 };
  if (lg.json) {
    format_line(&b, TR_LOG_ERROR, msg, NULL, 0, traceback);
  } else {
    /* Plain "taskrun: ..." like other Unix tools: this is what lands in a cron mail. */
    puts_(&b, "taskrun: ");
    puts_(&b, msg);
    puts_(&b, "\n");
    if (traceback) {
      puts_(&b, traceback);
      puts_(&b, "\n");
    }
  }
  emit(&b);
}
