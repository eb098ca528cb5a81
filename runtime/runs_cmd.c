/* `taskrun runs [--json]`, `runs show RUN [--json]`, `runs prune --older-than D`: what the
 * journal holds, read through the journal interface (journal.h). */
#include "runs_cmd.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "duration.h"
#include "durable.h"
#include "escape.h"

typedef struct {
  const tr_journal_ops *ops;
  tr_journal *j;
  int json, count;
} ctx;

static int usage(const char *msg) {
  fprintf(stderr, "taskrun runs: %s (usage: taskrun runs [--json] | runs show RUN [--json] | "
          "runs prune --older-than D; see taskrun --help)\n", msg);
  return 2;
}

/* RFC 3339 in UTC with milliseconds, or "-" (text) / null (JSON) when t < 0. */
static void put_time(tr_buf *b, double t, int json) {
  if (t < 0) { tr_buf_puts(b, json ? "null" : "-"); return; }
  time_t s = (time_t)t;
  struct tm tm;
  char buf[64];
  gmtime_r(&s, &tm);
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)((t - (double)s) * 1000) % 1000);
  if (json) tr_buf_puts(b, "\"");
  tr_buf_puts(b, buf);
  if (json) tr_buf_puts(b, "\"");
}

static void put_json_string(tr_buf *b, const char *s) {
  if (!s) { tr_buf_puts(b, "null"); return; }
  tr_buf_puts(b, "\"");
  tr_escape_json(b, s, strlen(s), TR_JSON_LOG);
  tr_buf_puts(b, "\"");
}

/* A run still "running" whose key lock nobody holds was killed: it is interrupted. */
static const char *status_of(ctx *c, const tr_journal_run *r) {
  if (strcmp(r->status, TR_RUN_RUNNING) != 0) return r->status;
  char name[PATH_MAX + 64];
  snprintf(name, sizeof name, "key:%s", r->key);
  return c->ops->held(c->j, name) == 0 ? TR_RUN_INTERRUPTED : TR_RUN_RUNNING;
}

static void put_run_fields(ctx *c, tr_buf *b, const tr_journal_run *r) {
  char num[32];
  tr_buf_puts(b, "\"id\":");
  put_json_string(b, r->id);
  tr_buf_puts(b, ",\"script\":");
  put_json_string(b, r->script);
  tr_buf_puts(b, ",\"args\":");
  tr_buf_puts(b, r->args ? r->args : "[]");
  tr_buf_puts(b, ",\"status\":");
  put_json_string(b, status_of(c, r));
  snprintf(num, sizeof num, ",\"attempt\":%lld", r->attempt);
  tr_buf_puts(b, num);
  tr_buf_puts(b, ",\"started\":");
  put_time(b, r->started, 1);
  tr_buf_puts(b, ",\"ended\":");
  put_time(b, r->ended, 1);
  if (r->exit_code < 0) snprintf(num, sizeof num, ",\"exit_code\":null");
  else snprintf(num, sizeof num, ",\"exit_code\":%d", r->exit_code);
  tr_buf_puts(b, num);
}

/* The text line of a run: id, script and arguments, status, attempt, started, ended, exit. */
static void put_run_line(ctx *c, tr_buf *b, const tr_journal_run *r) {
  char num[64];
  tr_escape_text(b, r->id, strlen(r->id), TR_TEXT_LINE);
  tr_buf_puts(b, "  ");
  tr_escape_text(b, r->script ? r->script : "-", strlen(r->script ? r->script : "-"),
                 TR_TEXT_LINE);
  if (r->args && strcmp(r->args, "[]") != 0) {
    tr_buf_puts(b, " ");
    tr_escape_text(b, r->args, strlen(r->args), TR_TEXT_LINE);
  }
  snprintf(num, sizeof num, "  %s  attempt %lld  ", status_of(c, r), r->attempt);
  tr_buf_puts(b, num);
  put_time(b, r->started, 0);
  tr_buf_puts(b, "  ");
  put_time(b, r->ended, 0);
  if (r->exit_code < 0) snprintf(num, sizeof num, "  exit -\n");
  else snprintf(num, sizeof num, "  exit %d\n", r->exit_code);
  tr_buf_puts(b, num);
}

static int list_one(void *ud, const tr_journal_run *r) {
  ctx *c = ud;
  tr_buf b = { 0 };
  if (c->json) {
    tr_buf_puts(&b, c->count ? ",\n{" : "{");
    put_run_fields(c, &b, r);
    tr_buf_puts(&b, "}");
  } else {
    put_run_line(c, &b, r);
  }
  c->count++;
  if (b.p) fwrite(b.p, 1, b.n, stdout);
  free(b.p);
  return 0;
}

static int step_one(void *ud, const tr_journal_step *s) {
  ctx *c = ud;
  tr_buf b = { 0 };
  char num[64];
  if (c->json) {
    tr_buf_puts(&b, c->count ? ",{\"name\":" : "{\"name\":");
    put_json_string(&b, s->step_key);
    snprintf(num, sizeof num, ",\"seq\":%lld,\"state\":", s->seq);
    tr_buf_puts(&b, num);
    put_json_string(&b, s->state);
    tr_buf_puts(&b, ",\"started\":");
    put_time(&b, s->started, 1);
    tr_buf_puts(&b, ",\"ended\":");
    put_time(&b, s->ended, 1);
    tr_buf_puts(&b, ",\"result\":");
    tr_buf_puts(&b, s->result ? s->result : "null");
    tr_buf_puts(&b, ",\"error\":");
    tr_buf_puts(&b, s->error ? s->error : "null");
    tr_buf_puts(&b, ",\"created_id\":");
    put_json_string(&b, s->created_id);
    tr_buf_puts(&b, "}");
  } else {
    tr_buf_puts(&b, "  step ");
    tr_escape_text(&b, s->step_key, strlen(s->step_key), TR_TEXT_LINE);
    snprintf(num, sizeof num, " #%lld  %s  ", s->seq, s->state);
    tr_buf_puts(&b, num);
    put_time(&b, s->started, 0);
    tr_buf_puts(&b, "  ");
    put_time(&b, s->ended, 0);
    const char *parts[][2] = { { "  id ", s->created_id }, { "  result ", s->result },
                               { "  error ", s->error } };
    for (int i = 0; i < 3; i++) {
      if (!parts[i][1]) continue;
      tr_buf_puts(&b, parts[i][0]);
      tr_escape_text(&b, parts[i][1], strlen(parts[i][1]), TR_TEXT_LINE);
    }
    tr_buf_puts(&b, "\n");
  }
  c->count++;
  if (b.p) fwrite(b.p, 1, b.n, stdout);
  free(b.p);
  return 0;
}

static int show(ctx *c, const char *ref) {
  tr_journal_run r;
  int rc = c->j ? c->ops->run_get(c->j, ref, &r) : 1;
  if (rc != 0) {
    if (rc > 0) fprintf(stderr, "taskrun runs: no run \"%s\" (see taskrun runs)\n", ref);
    else fprintf(stderr, "taskrun runs: %s\n", c->ops->error(c->j));
    return 1;
  }
  tr_buf b = { 0 };
  if (c->json) {
    tr_buf_puts(&b, "{");
    put_run_fields(c, &b, &r);
    tr_buf_puts(&b, ",\"steps\":[");
  } else {
    put_run_line(c, &b, &r);
  }
  if (b.p) fwrite(b.p, 1, b.n, stdout);
  free(b.p);
  rc = c->ops->steps_list(c->j, r.id, step_one, c);
  tr_journal_run_free(&r);
  if (c->json) fputs("]}\n", stdout);
  if (rc != 0) fprintf(stderr, "taskrun runs: %s\n", c->ops->error(c->j));
  return rc != 0;
}

static double now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

int tr_runs_main(int argc, char **argv, const char *state_dir) {
  ctx c = { tr_journal_backend(), NULL, 0, 0 };
  const char *cmd = NULL, *ref = NULL, *older = NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0) c.json = 1;
    else if (strcmp(a, "--state-dir") == 0 && i + 1 < argc) state_dir = argv[++i];
    else if (strncmp(a, "--state-dir=", 12) == 0) state_dir = a + 12;
    else if (strcmp(a, "--older-than") == 0 && i + 1 < argc) older = argv[++i];
    else if (strncmp(a, "--older-than=", 13) == 0) older = a + 13;
    else if (a[0] == '-') return usage("unknown option or missing value");
    else if (!cmd && (strcmp(a, "show") == 0 || strcmp(a, "prune") == 0)) cmd = a;
    else if (cmd && strcmp(cmd, "show") == 0 && !ref) ref = a;
    else return usage("unexpected argument");
  }
  double age = 0;
  if (cmd && strcmp(cmd, "show") == 0 && !ref) return usage("show needs a RUN");
  if (cmd && strcmp(cmd, "prune") == 0 &&
      (!older || tr_duration_parse(older, &age) != 0 || age < 0))
    return usage("prune needs --older-than D, a duration like 90m or 720h");
  if (older && (!cmd || strcmp(cmd, "prune") != 0)) return usage("--older-than is prune's");
  char dir[PATH_MAX], err[1024];
  int missing;
  if (tr_state_dir_resolve(state_dir, dir, sizeof dir) != 0) return usage("--state-dir too long");
  /* A state directory nobody has run in yet holds no runs: nothing to list, show or prune. */
  c.j = tr_journal_open_dir(dir, 0, &missing, err, sizeof err);
  if (!c.j && !missing) {
    fprintf(stderr, "taskrun runs: cannot read the state directory %s: %s\n", dir, err);
    return 1;
  }
  int code = 0;
  if (cmd && strcmp(cmd, "show") == 0) {
    code = show(&c, ref);
  } else if (cmd) {
    long long removed = 0;
    if (c.j && c.ops->prune(c.j, now() - age, &removed) != 0) {
      fprintf(stderr, "taskrun runs: %s\n", c.ops->error(c.j));
      code = 1;
    } else {
      printf("removed %lld finished run%s\n", removed, removed == 1 ? "" : "s");
    }
  } else {
    if (c.json) fputs("[", stdout);
    if (c.j && c.ops->runs_list(c.j, list_one, &c) != 0) {
      fprintf(stderr, "taskrun runs: %s\n", c.ops->error(c.j));
      code = 1;
    }
    if (c.json) fputs("]\n", stdout);
  }
  if (c.j) c.ops->close(c.j);
  return code;
}
