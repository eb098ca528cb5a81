/* `taskrun runs [--json]`, `runs show RUN [--json]`, `runs prune --older-than D`, `runs resolve
 * RUN STEP --id ID | --redo | --abandon`: what the journal holds, read (and, for an operator's
 * decision on a call in doubt, written) through the journal interface (journal.h). */
#include "runs_cmd.h"

#include <ctype.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "durable.h"
#include "escape.h"
#include "json_redact.h"
#include "log.h"

typedef struct {
  const tr_journal_ops *ops;
  tr_journal *j;
  int json, count;
} ctx;

static int usage(const char *msg) {
  fprintf(stderr, "taskrun runs: %s (usage: taskrun runs [--json] | runs show RUN [--json] | "
          "runs prune --older-than D | runs resolve RUN STEP --id ID|--redo|--abandon; see "
          "taskrun --help)\n", msg);
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
  tr_buf_puts(b, ",\"host\":");
  put_json_string(b, r->host);
  snprintf(num, sizeof num, ",\"pid\":%lld", r->pid);
  tr_buf_puts(b, num);
  tr_buf_puts(b, ",\"started\":");
  put_time(b, r->started, 1);
  tr_buf_puts(b, ",\"ended\":");
  put_time(b, r->ended, 1);
  if (r->exit_code < 0) snprintf(num, sizeof num, ",\"exit_code\":null");
  else snprintf(num, sizeof num, ",\"exit_code\":%d", r->exit_code);
  tr_buf_puts(b, num);
}

/* The text line of a run: id, script and arguments, status, attempt, started, ended, exit, and
 * the host of its latest attempt. */
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
  if (r->exit_code < 0) snprintf(num, sizeof num, "  exit -  host ");
  else snprintf(num, sizeof num, "  exit %d  host ", r->exit_code);
  tr_buf_puts(b, num);
  const char *host = r->host && *r->host ? r->host : "-";
  tr_escape_text(b, host, strlen(host), TR_TEXT_LINE);
  tr_buf_puts(b, "\n");
}

/* An attempt (who ran it: host and pid), in text (a line under the run's) or JSON. */
static int attempt_one(void *ud, const tr_journal_attempt *a) {
  ctx *c = ud;
  tr_buf b = { 0 };
  char num[96];
  const char *host = a->host && *a->host ? a->host : "-";
  if (c->json) {
    snprintf(num, sizeof num, "%s{\"attempt\":%lld,\"host\":", c->count ? "," : "", a->attempt);
    tr_buf_puts(&b, num);
    put_json_string(&b, a->host);
    snprintf(num, sizeof num, ",\"pid\":%lld,\"started\":", a->pid);
    tr_buf_puts(&b, num);
    put_time(&b, a->started, 1);
    tr_buf_puts(&b, ",\"ended\":");
    put_time(&b, a->ended, 1);
    tr_buf_puts(&b, ",\"status\":");
    put_json_string(&b, a->status);
    if (a->exit_code < 0) snprintf(num, sizeof num, ",\"exit_code\":null}");
    else snprintf(num, sizeof num, ",\"exit_code\":%d}", a->exit_code);
    tr_buf_puts(&b, num);
  } else {
    snprintf(num, sizeof num, "  attempt %lld  host ", a->attempt);
    tr_buf_puts(&b, num);
    tr_escape_text(&b, host, strlen(host), TR_TEXT_LINE);
    snprintf(num, sizeof num, "  pid %lld  ", a->pid);
    tr_buf_puts(&b, num);
    put_time(&b, a->started, 0);
    tr_buf_puts(&b, "  ");
    put_time(&b, a->ended, 0);
    tr_buf_puts(&b, "  ");
    tr_buf_puts(&b, a->status ? a->status : "-");
    if (a->exit_code < 0) snprintf(num, sizeof num, "  exit -\n");
    else snprintf(num, sizeof num, "  exit %d\n", a->exit_code);
    tr_buf_puts(&b, num);
  }
  c->count++;
  if (b.p) fwrite(b.p, 1, b.n, stdout);
  free(b.p);
  return 0;
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

/* JSON the journal holds, as a person may see it: credentials redacted (json_redact.h). */
static void put_redacted(tr_buf *b, const char *json) {
  if (!json) tr_buf_puts(b, "null");
  else tr_json_redact(b, json, strlen(json));
}

/* The step's handle, "KEY#SEQ", as the in-doubt message prints it and `runs resolve` takes it:
 * a JSON string, or text for one line. */
static void put_handle(tr_buf *b, const tr_journal_step *s, int json) {
  char seq[32];
  snprintf(seq, sizeof seq, "#%lld", s->seq);
  if (json) tr_buf_puts(b, "\"");
  if (json) tr_escape_json(b, s->step_key, strlen(s->step_key), TR_JSON_LOG);
  else tr_escape_text(b, s->step_key, strlen(s->step_key), TR_TEXT_LINE);
  tr_buf_puts(b, seq);
  if (json) tr_buf_puts(b, "\"");
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
    put_redacted(&b, s->result);
    tr_buf_puts(&b, ",\"error\":");
    put_redacted(&b, s->error);
    tr_buf_puts(&b, ",\"created_id\":");
    put_json_string(&b, s->created_id);
    tr_buf_puts(&b, ",\"resolution\":");
    put_redacted(&b, s->resolution);
    snprintf(num, sizeof num, ",\"position\":%d,\"handle\":", c->count + 1);
    tr_buf_puts(&b, num);
    put_handle(&b, s, 1);
    tr_buf_puts(&b, "}");
  } else {
    /* The position and the key as `runs resolve` takes them (either one). */
    snprintf(num, sizeof num, "  step %d  ", c->count + 1);
    tr_buf_puts(&b, num);
    tr_escape_text(&b, s->step_key, strlen(s->step_key), TR_TEXT_LINE);
    snprintf(num, sizeof num, " #%lld  %s  ", s->seq, s->state);
    tr_buf_puts(&b, num);
    put_time(&b, s->started, 0);
    tr_buf_puts(&b, "  ");
    put_time(&b, s->ended, 0);
    if (s->created_id) {
      tr_buf_puts(&b, "  id ");
      tr_escape_text(&b, s->created_id, strlen(s->created_id), TR_TEXT_LINE);
    }
    const char *parts[][2] = { { "  result ", s->result }, { "  error ", s->error },
                               { "  resolution ", s->resolution } };
    for (int i = 0; i < 3; i++) {
      if (!parts[i][1]) continue;
      tr_buf_puts(&b, parts[i][0]);
      tr_buf shown = { 0 };
      put_redacted(&shown, parts[i][1]);
      if (shown.p) tr_escape_text(&b, shown.p, shown.n, TR_TEXT_LINE);
      free(shown.p);
    }
    tr_buf_puts(&b, "  handle ");
    put_handle(&b, s, 0);
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
    tr_buf_puts(&b, ",\"attempts\":[");
  } else {
    put_run_line(c, &b, &r);
  }
  if (b.p) fwrite(b.p, 1, b.n, stdout);
  free(b.p);
  /* Who ran each attempt (a fleet's hosts take over each other's runs), then the steps. */
  rc = c->ops->attempts_list(c->j, r.id, attempt_one, c);
  c->count = 0;
  if (c->json) fputs("],\"steps\":[", stdout);
  if (rc == 0) rc = c->ops->steps_list(c->j, r.id, step_one, c);
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

/* ---- runs resolve ---- */

typedef struct {
  const char *how;           /* "id", "redo" or "abandon" */
  const char *id;            /* --id */
} decision;

/* Finds the step-th step (1-based) of a run while listing its steps. */
typedef struct {
  long long want, at;
  char *key;
  long long seq;
} nth_step;

static int nth_one(void *ud, const tr_journal_step *s) {
  nth_step *n = ud;
  if (++n->at != n->want) return 0;
  n->key = strdup(s->step_key);
  n->seq = s->seq;
  return 1;
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

/* Reads the step that `ref` names in run `run_id`: its position in `runs show` (1, 2, ...), or
 * "KEY#N" as the in-doubt message prints it ("KEY" alone is "KEY#1"). Returns 0, 1 (after
 * saying there is none), -1 on a journal error. */
static int find_step(ctx *c, const char *run_id, const char *ref, tr_journal_step *out) {
  char *key = NULL;
  long long seq = 1;
  if (all_digits(ref) && strlen(ref) < 10) {
    nth_step n = { atoll(ref), 0, NULL, 0 };
    if (c->ops->steps_list(c->j, run_id, nth_one, &n) != 0) return -1;
    if (!n.key) {
      fprintf(stderr, "taskrun runs: run %s has %lld step%s, no step %s (see taskrun runs show "
              "%s)\n", run_id, n.at, n.at == 1 ? "" : "s", ref, run_id);
      return 1;
    }
    key = n.key;
    seq = n.seq;
  } else {
    const char *hash = strrchr(ref, '#');
    if (hash && all_digits(hash + 1) && strlen(hash + 1) < 10 && hash > ref) {
      key = strndup(ref, (size_t)(hash - ref));
      seq = atoll(hash + 1);
    } else {
      key = strdup(ref);
    }
  }
  if (!key) {
    fprintf(stderr, "taskrun runs: out of memory\n");
    return -1;
  }
  int rc = c->ops->step_get(c->j, run_id, key, seq, out);
  if (rc == 1)
    fprintf(stderr, "taskrun runs: run %s has no step %s#%lld (see taskrun runs show %s)\n",
            run_id, key, seq, run_id);
  free(key);
  return rc;
}

/* "user@host (uid N)": who decided, for the journal. */
static void who(char *buf, size_t n) {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  struct passwd pw, *found = NULL;
  char pwbuf[4096];
  const char *user = getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &found) == 0 && found
                     ? found->pw_name : getenv("USER");
  snprintf(buf, n, "%s@%s (uid %lld)", user && *user ? user : "?", *host ? host : "?",
           (long long)getuid());
}

static void rfc3339_now(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Why a step cannot be resolved, or NULL when it can: only a provider call in doubt (started,
 * never answered) waits for an operator. */
static const char *unresolvable(const tr_journal_step *s, char *buf, size_t n) {
  if (strcmp(s->state, TR_STEP_STARTED) == 0) {
    if (strncmp(s->step_key, "call:", 5) == 0) return NULL;
    snprintf(buf, n, "is %s, not a provider call: a resumed run goes on with it by itself; "
             "nothing to resolve", strncmp(s->step_key, "wait:", 5) == 0 ? "a wait"
             : "a step (taskrun.step, run again on resume)");
  } else if (strcmp(s->state, TR_STEP_FINISHED) == 0) {
    snprintf(buf, n, "finished%s%s; nothing to resolve", s->created_id ? " with id " : "",
             s->created_id ? s->created_id : "");
  } else if (strcmp(s->state, TR_STEP_FAILED) == 0) {
    snprintf(buf, n, "failed (the vendor refused it); nothing to resolve: run it again with "
             "--retry-failed to send it again");
  } else if (strcmp(s->state, TR_STEP_REDO) == 0) {
    snprintf(buf, n, "already set to be sent again on the next run; nothing to resolve");
  } else {
    snprintf(buf, n, "%s; nothing to resolve", s->state);
  }
  return buf;
}

/* Records the operator's decision on a call in doubt: `runs resolve RUN STEP ...`. */
static int resolve(ctx *c, const char *ref, const char *step_ref, const decision *d) {
  tr_journal_run r;
  tr_journal_step s = { 0 };
  tr_journal_holder holder = { 0 };
  char name[PATH_MAX + 64], why[512], by[512], at[64];
  int rc = c->j ? c->ops->run_get(c->j, ref, &r) : 1;
  if (rc != 0) {
    if (rc > 0) fprintf(stderr, "taskrun runs: no run \"%s\" (see taskrun runs)\n", ref);
    else fprintf(stderr, "taskrun runs: %s\n", c->ops->error(c->j));
    return 1;
  }
  int code = 1;
  /* Held for the decision: no start of this run can read the step while it changes. */
  snprintf(name, sizeof name, "key:%s", r.key);
  if ((rc = c->ops->lock(c->j, name, 0, &holder)) != 0) {
    if (rc < 0) {
      fprintf(stderr, "taskrun runs: %s\n", c->ops->error(c->j));
    } else {
      char since[64] = "an unknown time";
      if (holder.started > 0) {
        time_t t = (time_t)holder.started;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
      }
      fprintf(stderr, "taskrun runs: run %s is running (held by pid %lld since %s%s%s): nothing "
              "was resolved; try again after it ends\n", r.id, holder.pid, since,
              *holder.host ? " on host " : "", holder.host);
      code = TR_EXIT_LOCKED;
    }
    goto done;
  }
  /* Read again under the lock: a start may have begun or ended the run meanwhile. Nothing else
   * holds the key now, so a run still "running" was killed. */
  tr_journal_run_free(&r);
  if ((rc = c->ops->run_get(c->j, ref, &r)) != 0) {
    fprintf(stderr, "taskrun runs: %s\n", rc > 0 ? "the run is gone (pruned?)"
            : c->ops->error(c->j));
    goto done;
  }
  const char *status = strcmp(r.status, TR_RUN_RUNNING) == 0 ? TR_RUN_INTERRUPTED : r.status;
  if (strcmp(status, TR_RUN_INTERRUPTED) != 0 && strcmp(status, TR_RUN_IN_DOUBT) != 0) {
    fprintf(stderr, "taskrun runs: run %s is %s: nothing to resolve (its next start begins a new "
            "run)\n", r.id, status);
    code = 2;
    goto done;
  }
  if ((rc = find_step(c, r.id, step_ref, &s)) != 0) {
    if (rc < 0) fprintf(stderr, "taskrun runs: %s\n", c->ops->error(c->j));
    code = rc > 0 ? 2 : 1;
    goto done;
  }
  if (unresolvable(&s, why, sizeof why)) {
    fprintf(stderr, "taskrun runs: step %s#%lld of run %s %s\n", s.step_key, s.seq, r.id, why);
    code = 2;
    goto done;
  }
  if (d->id && (rc = c->ops->created_known(c->j, d->id)) != 0) {
    if (rc < 0) fprintf(stderr, "taskrun runs: %s\n", c->ops->error(c->j));
    else fprintf(stderr, "taskrun runs: id %s is what another journaled step created: a call "
                 "adopts only what nothing else owns; nothing was resolved\n", d->id);
    code = rc < 0 ? 1 : 2;
    goto done;
  }
  tr_buf res = { 0 };
  who(by, sizeof by);
  rfc3339_now(at, sizeof at);
  tr_buf_puts(&res, "{\"how\":");
  put_json_string(&res, d->how);
  tr_buf_puts(&res, ",\"id\":");
  put_json_string(&res, d->id);
  tr_buf_puts(&res, ",\"by\":");
  put_json_string(&res, by);
  tr_buf_puts(&res, ",\"at\":");
  put_json_string(&res, at);
  tr_buf_put(&res, "}", 2);   /* with its NUL */
  if (res.failed) {
    fprintf(stderr, "taskrun runs: out of memory\n");
    free(res.p);
    goto done;
  }
  const char *state = d->id ? TR_STEP_FINISHED : strcmp(d->how, "redo") == 0 ? TR_STEP_REDO
                      : NULL;
  rc = c->ops->step_resolve(c->j, r.id, s.step_key, s.seq, state, d->id, res.p);
  free(res.p);
  if (rc == 0 && !state) rc = c->ops->run_end(c->j, r.id, TR_RUN_ABANDONED, r.exit_code);
  if (rc != 0) {
    fprintf(stderr, "taskrun runs: %s\n", c->ops->error(c->j));
    goto done;
  }
  if (d->id)
    printf("run %s: step %s#%lld adopts id %s (recorded by %s); run it again to go on with it\n",
           r.id, s.step_key, s.seq, d->id, by);
  else if (state)
    printf("run %s: step %s#%lld will be sent again on the next run (recorded by %s)\n", r.id,
           s.step_key, s.seq, by);
  else
    printf("run %s: abandoned at step %s#%lld (recorded by %s); its next start begins a new "
           "run\n", r.id, s.step_key, s.seq, by);
  code = 0;
done:
  c->ops->unlock(c->j, name);
  tr_journal_step_free(&s);
  tr_journal_run_free(&r);
  return code;
}

int tr_runs_main(int argc, char **argv, const char *state_dir) {
  ctx c = { NULL, NULL, 0, 0 };
  const char *cmd = NULL, *ref = NULL, *older = NULL, *step = NULL, *journal = NULL;
  decision dec = { NULL, NULL };
  int decisions = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0) c.json = 1;
    else if (strcmp(a, "--redo") == 0) { dec.how = "redo"; decisions++; }
    else if (strcmp(a, "--abandon") == 0) { dec.how = "abandon"; decisions++; }
    else if (strcmp(a, "--id") == 0 && i + 1 < argc) { dec.how = "id"; dec.id = argv[++i];
                                                       decisions++; }
    else if (strncmp(a, "--id=", 5) == 0) { dec.how = "id"; dec.id = a + 5; decisions++; }
    else if (strcmp(a, "--state-dir") == 0 && i + 1 < argc) state_dir = argv[++i];
    else if (strncmp(a, "--state-dir=", 12) == 0) state_dir = a + 12;
    else if (strcmp(a, "--journal") == 0 && i + 1 < argc) journal = argv[++i];
    else if (strncmp(a, "--journal=", 10) == 0) journal = a + 10;
    else if (strcmp(a, "--older-than") == 0 && i + 1 < argc) older = argv[++i];
    else if (strncmp(a, "--older-than=", 13) == 0) older = a + 13;
    else if (a[0] == '-') return usage("unknown option or missing value");
    else if (!cmd && (strcmp(a, "show") == 0 || strcmp(a, "prune") == 0 ||
                      strcmp(a, "resolve") == 0)) cmd = a;
    else if (cmd && strcmp(cmd, "prune") != 0 && !ref) ref = a;
    else if (cmd && strcmp(cmd, "resolve") == 0 && !step) step = a;
    else return usage("unexpected argument");
  }
  double age = 0;
  int resolving = cmd && strcmp(cmd, "resolve") == 0;
  if (cmd && strcmp(cmd, "show") == 0 && !ref) return usage("show needs a RUN");
  if (resolving && (!ref || !step)) return usage("resolve needs a RUN and a STEP");
  if (resolving && decisions != 1)
    return usage("resolve needs one of --id ID (adopt what the vendor created), --redo (send "
                 "the request again) or --abandon (end the run)");
  if (decisions && !resolving) return usage("--id, --redo and --abandon are resolve's");
  if (dec.id && !*dec.id) return usage("--id needs a non-empty ID");
  if (resolving && c.json) return usage("resolve has no --json");
  if (cmd && strcmp(cmd, "prune") == 0 &&
      (!older || tr_duration_parse(older, &age) != 0 || age < 0))
    return usage("prune needs --older-than D, a duration like 90m or 720h");
  if (older && (!cmd || strcmp(cmd, "prune") != 0)) return usage("--older-than is prune's");
  char dir[PATH_MAX], err[1024];
  int missing, transient;
  if (journal && tr_journal_select(journal, err, sizeof err) != 0) return usage(err);
  c.ops = tr_journal_backend();
  if (tr_state_dir_resolve(state_dir, dir, sizeof dir) != 0) return usage("--state-dir too long");
  /* A state directory nobody has run in yet holds no runs: nothing to list, show or prune. */
  c.j = tr_journal_open_dir(dir, 0, &missing, &transient, err, sizeof err);
  if (!c.j && tr_journal_url()) {
    char *url = tr_redact(tr_journal_url(), strlen(tr_journal_url()), NULL);
    fprintf(stderr, "taskrun runs: cannot %s the journal database %s: %s\n",
            transient ? "reach" : "use", url ? url : "", err);
    free(url);
    return transient ? TR_EXIT_LOCKED : 1;
  }
  if (!c.j && !missing) {
    fprintf(stderr, "taskrun runs: cannot read the state directory %s: %s\n", dir, err);
    return 1;
  }
  int code = 0;
  if (cmd && strcmp(cmd, "show") == 0) {
    code = show(&c, ref);
  } else if (resolving) {
    code = resolve(&c, ref, step, &dec);
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
