/* The run's counters and the Prometheus text-format file (exposition format 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/) written from them.
 *
 * The counters are few (providers x outcomes): a list searched in order does. The file is the
 * runbook's own: every series carries runbook="<script file name>", and only that runbook's
 * series of the old file are read back (the last success, the counters' values so far), so
 * each runbook needs a file of its own, as node_exporter's collector expects one per job. */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"

typedef struct {
  tr_metric which;
  char *provider, *outcome;
  double value;
} counter;

static struct {
  int on;
  counter *c;
  size_t n, cap;
} M;

void tr_metrics_enable(void) { M.on = 1; }

int tr_metrics_on(void) { return M.on; }

static void add(tr_metric which, const char *provider, const char *outcome, double value) {
  for (size_t i = 0; i < M.n; i++) {
    counter *c = &M.c[i];
    if (c->which == which && strcmp(c->provider, provider) == 0 &&
        strcmp(c->outcome, outcome) == 0) {
      c->value += value;
      return;
    }
  }
  if (M.n == M.cap) {
    size_t cap = M.cap ? M.cap * 2 : 16;
    counter *grown = realloc(M.c, cap * sizeof *grown);
    if (!grown) return;
    M.c = grown;
    M.cap = cap;
  }
  char *p = strdup(provider), *o = strdup(outcome);
  if (!p || !o) {
    free(p);
    free(o);
    return;
  }
  M.c[M.n++] = (counter){ which, p, o, value };
}

void tr_metrics_count(tr_metric which, const char *provider, const char *outcome) {
  if (M.on) add(which, provider, outcome, 1);
}

void tr_metrics_free(void) {
  for (size_t i = 0; i < M.n; i++) {
    free(M.c[i].provider);
    free(M.c[i].outcome);
  }
  free(M.c);
  memset(&M, 0, sizeof M);
}

/* ---- reading the old file ---- */

#define LAST_SUCCESS "taskrun_last_success_timestamp_seconds"
static const char *const counter_names[] = { "taskrun_waits_total", "taskrun_requests_total" };

/* The old file's series of this runbook that the new one goes on from. */
typedef struct {
  double last_success;   /* 0: none */
} previous;

/* A label value, unescaped (\\, \" and \n), from just past its opening quote; *end is set past
 * its closing quote. NULL when the text ends first. */
static char *label_value(const char *p, const char **end) {
  tr_buf b = { 0 };
  for (; *p && *p != '"'; p++) {
    char c = *p;
    if (c == '\\' && p[1]) {
      p++;
      c = *p == 'n' ? '\n' : *p;
    }
    tr_buf_put(&b, &c, 1);
  }
  if (*p != '"' || b.failed) {
    free(b.p);
    return NULL;
  }
  tr_buf_put(&b, "", 1);
  *end = p + 1;
  if (!b.p) b.p = strdup("");
  return b.p;
}

/* One sample line: `name{k="v",...} value [timestamp]`. Fills the labels this file uses
 * (runbook, provider, outcome; malloc'd, or NULL when absent) and the value. Returns 0, or -1
 * when the line is not a sample. */
typedef struct {
  char name[64];
  char *runbook, *provider, *outcome;
  double value;
} sample;

static void sample_free(sample *s) {
  free(s->runbook);
  free(s->provider);
  free(s->outcome);
}

static int parse_sample(const char *line, sample *s) {
  memset(s, 0, sizeof *s);
  size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
  if (n == 0 || n >= sizeof s->name) return -1;
  memcpy(s->name, line, n);
  const char *p = line + n;
  if (*p == '{') {
    p++;
    while (*p && *p != '}') {
      p += strspn(p, " ,");
      size_t k = strcspn(p, "=");
      if (p[k] != '=' || p[k + 1] != '"') return -1;
      const char *end;
      char *v = label_value(p + k + 2, &end);
      if (!v) return -1;
      char **slot = k == 7 && strncmp(p, "runbook", 7) == 0 ? &s->runbook
                    : k == 8 && strncmp(p, "provider", 8) == 0 ? &s->provider
                    : k == 7 && strncmp(p, "outcome", 7) == 0 ? &s->outcome : NULL;
      if (slot) {
        free(*slot);
        *slot = v;
      } else {
        free(v);
      }
      p = end;
      p += strspn(p, " ,");
    }
    if (*p != '}') return -1;
    p++;
  }
  char *end;
  errno = 0;
  s->value = strtod(p, &end);
  return end == p || errno ? -1 : 0;
}

/* Reads the old file at `path`, if there is one: this runbook's last success, and its counters
 * added to this run's. A file that cannot be read, or lines that do not parse, count as
 * nothing: the metrics start over rather than stop the run's end. */
static void read_previous(const char *path, const char *runbook, previous *prev) {
  prev->last_success = 0;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) >= 0) {
    if (line[0] == '#') continue;
    sample s;
    if (parse_sample(line, &s) == 0 && s.runbook && strcmp(s.runbook, runbook) == 0) {
      if (strcmp(s.name, LAST_SUCCESS) == 0) {
        prev->last_success = s.value;
      } else if (s.provider && s.outcome && s.value > 0) {
        for (int w = 0; w < 2; w++)
          if (strcmp(s.name, counter_names[w]) == 0) add((tr_metric)w, s.provider, s.outcome,
                                                         s.value);
      }
    }
    sample_free(&s);
  }
  free(line);
  fclose(f);
}

/* ---- writing ---- */

/* A label value as the text format wants it: \\, \" and \n escaped. */
static void put_label(tr_buf *b, const char *name, const char *value) {
  tr_buf_puts(b, name);
  tr_buf_puts(b, "=\"");
  for (const char *p = value; *p; p++) {
    if (*p == '\\') tr_buf_puts(b, "\\\\");
    else if (*p == '"') tr_buf_puts(b, "\\\"");
    else if (*p == '\n') tr_buf_puts(b, "\\n");
    else tr_buf_put(b, p, 1);
  }
  tr_buf_puts(b, "\"");
}

static void put_family(tr_buf *b, const char *name, const char *type, const char *help) {
  char head[512];
  snprintf(head, sizeof head, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
  tr_buf_puts(b, head);
}

static void put_value(tr_buf *b, double v, int decimals) {
  char num[64];
  snprintf(num, sizeof num, " %.*f\n", decimals, v);
  tr_buf_puts(b, num);
}

static void put_gauge(tr_buf *b, const char *name, const char *help, const char *runbook,
                      double v, int decimals) {
  put_family(b, name, "gauge", help);
  tr_buf_puts(b, name);
  tr_buf_puts(b, "{");
  put_label(b, "runbook", runbook);
  tr_buf_puts(b, "}");
  put_value(b, v, decimals);
}

static int by_labels(const void *x, const void *y) {
  const counter *a = x, *c = y;
  int d = strcmp(a->provider, c->provider);
  return d ? d : strcmp(a->outcome, c->outcome);
}

static void put_counters(tr_buf *b, tr_metric which, const char *help, const char *runbook) {
  const char *name = counter_names[which];
  put_family(b, name, "counter", help);
  if (M.n) qsort(M.c, M.n, sizeof *M.c, by_labels);
  for (size_t i = 0; i < M.n; i++) {
    if (M.c[i].which != which) continue;
    tr_buf_puts(b, name);
    tr_buf_puts(b, "{");
    put_label(b, "runbook", runbook);
    tr_buf_puts(b, ",");
    put_label(b, "provider", M.c[i].provider);
    tr_buf_puts(b, ",");
    put_label(b, "outcome", M.c[i].outcome);
    tr_buf_puts(b, "}");
    put_value(b, M.c[i].value, 0);
  }
}

static void format_file(tr_buf *b, const tr_metrics_run *run, double last_success) {
  const char *rb = run->runbook;
  put_gauge(b, "taskrun_last_run_timestamp_seconds", "When the runbook's last run ended, in "
            "seconds since the epoch.", rb, run->ended, 3);
  put_gauge(b, LAST_SUCCESS, "When the runbook's last run that exited 0 ended, in seconds since "
            "the epoch (0: none yet); failed runs leave it as it was.", rb, last_success, 3);
  put_gauge(b, "taskrun_last_run_duration_seconds", "How long the runbook's last run took, in "
            "seconds.", rb, run->duration, 3);
  put_gauge(b, "taskrun_last_run_exit_code", "The exit code of the runbook's last run (see "
            "taskrun(1)).", rb, run->exit_code, 0);
  put_counters(b, TR_METRIC_WAITS, "Waits ended, by the provider of the task and how the wait "
               "ended, over every run of the runbook.", rb);
  put_counters(b, TR_METRIC_REQUESTS, "Requests to the providers' APIs and token endpoints, by "
               "provider and outcome, over every run of the runbook.", rb);
}

int tr_metrics_write(const char *path, const tr_metrics_run *run, char *err, size_t n) {
  previous prev;
  read_previous(path, run->runbook, &prev);
  double last_success = run->exit_code == 0 ? run->ended : prev.last_success;
  tr_buf b = { 0 };
  format_file(&b, run, last_success);
  if (b.failed || !b.p) {
    free(b.p);
    snprintf(err, n, "out of memory");
    return -1;
  }
  /* In the same directory, so that rename replaces the file in one step; not ending in .prom,
   * so that node_exporter's collector never reads it half-written. */
  size_t len = strlen(path);
  char *tmp = malloc(len + 8);
  if (!tmp) {
    free(b.p);
    snprintf(err, n, "out of memory");
    return -1;
  }
  memcpy(tmp, path, len);
  memcpy(tmp + len, ".XXXXXX", 8);
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  int rc = -1;
  const char *step = "cannot create a temporary file next to it";
  if (fd >= 0 && !f) {
    int saved = errno;
    close(fd);
    unlink(tmp);
    errno = saved;
  } else if (f) {
    step = "cannot write it";
    /* mkstemp makes it 0600; the collector often runs as another user. */
    int written = fchmod(fd, 0644) == 0 && fwrite(b.p, 1, b.n, f) == b.n && fflush(f) == 0 &&
                  fsync(fd) == 0;
    int saved = errno;
    if (fclose(f) != 0 && written) {
      saved = errno;
      written = 0;
    }
    if (written) {
      step = "cannot replace it";
      rc = rename(tmp, path);
      saved = errno;
    }
    if (rc != 0) unlink(tmp);
    errno = saved;
  }
  if (rc != 0) snprintf(err, n, "%s: %s", step, strerror(errno));
  free(tmp);
  free(b.p);
  return rc;
}
