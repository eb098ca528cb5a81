/* Per-host queues: see hostq.h.
 *
 * A host keeps one FIFO per class of request: a class is a bound on the host's requests in
 * flight (the process's, or a client's lower max_inflight), a rate (none, or a client's) and a
 * hold (how long a Retry-After may hold them back). The next request to start is the earliest
 * arrival among the class heads that may start: first come first served, except that a request
 * held back by its own class's bound, rate or hold does not hold back the others. What holds
 * back every class (the process's bound, TASKRUN_RATE) is the host's.
 *
 * A rate is a token bucket holding one token (GCRA: the time its next token is due), so "20/s"
 * starts a request at most every 50 ms and never a burst.
 *
 * A 429, or a 503 with Retry-After, pauses the host for its Retry-After (1 s for a 429 without
 * one), and then spaces its starts by a delay that begins at the Retry-After (at most
 * MAX_SPACING) and halves with each success of a request started after it, until it is under
 * MIN_SPACING and gone. A class's `hold` caps both for its requests: a wait's max_retry_after
 * says how long a Retry-After may hold its polls back, and that holds for the host's too. */
#include "hostq.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hash.h"
#include "log.h"
#include "loop.h"

enum { Q_IDLE, Q_QUEUED, Q_STARTED };

/* A Retry-After past this is read as this: a host cannot park every request for days. */
#define MAX_PAUSE TR_HOSTQ_MAX_HOLD
#define MAX_SPACING 30.0
#define MIN_SPACING 0.01
/* Hosts nothing holds are freed once there are this many. */
#define SWEEP_HOSTS 256
#define NBUCKETS 256

struct tr_hostq_class {
  int limit;             /* the most of the host's requests in flight its requests start with */
  double rate;           /* requests per second, 0: none */
  double hold;           /* the longest the host's slowdown holds its requests back */
  double due;            /* when its bucket next holds a token */
  tr_hostq_req *head, *tail;
  tr_hostq_class *next;
};

struct tr_host {
  char *key;             /* "scheme://host:port" */
  uint64_t hash;
  tr_host *next;         /* in its hash bucket */
  int inflight, queued;
  double rate_due;       /* TASKRUN_RATE's bucket */
  double paused_from, paused_until;   /* a Retry-After: when it came, when it ends */
  double spacing;        /* the slowdown: the least time between two starts */
  double last_start;
  unsigned epoch;        /* counts the slowdowns: a success of an earlier start is old news */
  tr_timer wake;         /* armed when the next start waits for a time */
  tr_hostq_class *classes;
};

static struct {
  int max_inflight;
  int slowdown;          /* 429 and 503 slow their host down */
  double rate;           /* TASKRUN_RATE, 0: none */
  tr_host *buckets[NBUCKETS];
  int hosts;
  uint64_t seq;
} Q = { TR_HOSTQ_DEFAULT_MAX_INFLIGHT, 1, 0, { NULL }, 0, 0 };

/* ---- settings ---- */

int tr_hostq_parse_rate(const char *text, double *per_second, const char **why) {
  static const char *const form = "give requests per second, minute or hour, like \"20/s\", "
                                  "\"100/m\" or \"0.5/s\"";
  const char *p = text;
  double n = 0, scale = 1;
  int digits = 0;
  while (*p == ' ') p++;
  for (; isdigit((unsigned char)*p); p++, digits++) n = n * 10 + (*p - '0');
  if (*p == '.') {
    for (p++; isdigit((unsigned char)*p); p++, digits++) n += (*p - '0') * (scale /= 10);
  }
  while (*p == ' ') p++;
  if (!digits || *p++ != '/') {
    *why = form;
    return -1;
  }
  while (*p == ' ') p++;
  double per = *p == 's' ? 1 : *p == 'm' ? 60 : *p == 'h' ? 3600 : 0;
  if (per == 0) {
    *why = form;
    return -1;
  }
  for (p++; *p == ' '; p++) {}
  if (*p) {
    *why = form;
    return -1;
  }
  if (n <= 0) {
    *why = "a rate must be more than 0";
    return -1;
  }
  if (n / per > 1e6) {
    *why = "a rate is at most 1000000/s";
    return -1;
  }
  *per_second = n / per;
  return 0;
}

int tr_hostq_setup(char *msg, size_t size) {
  const char *v = getenv("TASKRUN_MAX_INFLIGHT");
  if (v && *v) {
    long n = 0;
    const char *p = v;
    while (isdigit((unsigned char)*p) && n <= TR_HOSTQ_MAX_INFLIGHT_CAP) n = n * 10 + (*p++ - '0');
    if (*p || n < 1 || n > TR_HOSTQ_MAX_INFLIGHT_CAP) {
      snprintf(msg, size, "bad TASKRUN_MAX_INFLIGHT \"%.64s\": give the most requests in flight "
               "to one host, a whole number from 1 to %d (default %d)", v,
               TR_HOSTQ_MAX_INFLIGHT_CAP, TR_HOSTQ_DEFAULT_MAX_INFLIGHT);
      return -1;
    }
    Q.max_inflight = (int)n;
  }
  v = getenv("TASKRUN_RATE");
  const char *why;
  if (v && *v && tr_hostq_parse_rate(v, &Q.rate, &why) != 0) {
    snprintf(msg, size, "bad TASKRUN_RATE \"%.64s\": %s; or unset it for no rate limit", v, why);
    return -1;
  }
  tr_loop_set_host_connections(Q.max_inflight, 1);
  return 0;
}

void tr_hostq_set_slowdown(int on) {
  Q.slowdown = on;
}

int tr_hostq_max_inflight(void) {
  return Q.max_inflight;
}

/* ---- hosts ---- */

/* Writes "scheme://host:port" of url into out (lower-cased; the scheme's port when none is
 * given). Returns its length, or 0 when url has no "scheme://" (libcurl refused it already). */
static size_t host_key(const char *url, char *out, size_t size) {
  const char *sep = strstr(url, "://");
  if (!sep) return 0;
  const char *auth = sep + 3, *end = auth + strcspn(auth, "/?#");
  for (const char *at = auth; at < end; at++)
    if (*at == '@') auth = at + 1;   /* user:password@ is not the host */
  const char *port = NULL;
  const char *last = end;
  while (last > auth && isdigit((unsigned char)last[-1])) last--;
  if (last > auth && last[-1] == ':' && last < end) port = last;
  const char *host_end = port ? port - 1 : end;
  size_t slen = (size_t)(sep - url), hlen = (size_t)(host_end - auth);
  const char *dflt = slen == 5 && strncasecmp(url, "https", 5) == 0 ? "443" : "80";
  size_t plen = port ? (size_t)(end - port) : strlen(dflt);
  if (slen + 3 + hlen + 1 + plen + 1 > size) return 0;
  char *o = out;
  for (size_t i = 0; i < slen; i++) *o++ = (char)tolower((unsigned char)url[i]);
  memcpy(o, "://", 3);
  o += 3;
  for (size_t i = 0; i < hlen; i++) *o++ = (char)tolower((unsigned char)auth[i]);
  *o++ = ':';
  memcpy(o, port ? port : dflt, plen);
  o += plen;
  *o = '\0';
  return (size_t)(o - out);
}

static void dispatch(tr_host *h);

static void on_wake(tr_timer *t) {
  dispatch((tr_host *)((char *)t - offsetof(tr_host, wake)));
}

/* Holds nothing: no request, no pause, no slowdown, every bucket full. */
static int host_idle(const tr_host *h, double now) {
  if (h->inflight || h->queued || h->paused_until > now || h->spacing > 0 || h->rate_due > now)
    return 0;
  for (const tr_hostq_class *c = h->classes; c; c = c->next)
    if (c->due > now) return 0;
  return 1;
}

static void free_host(tr_host *h) {
  tr_loop_disarm(&h->wake);
  while (h->classes) {
    tr_hostq_class *c = h->classes;
    h->classes = c->next;
    free(c);
  }
  free(h->key);
  free(h);
  Q.hosts--;
}

static void sweep(void) {
  double now = tr_now();
  for (int b = 0; b < NBUCKETS; b++) {
    for (tr_host **p = &Q.buckets[b]; *p;) {
      tr_host *h = *p;
      if (host_idle(h, now)) {
        *p = h->next;
        free_host(h);
      } else {
        p = &h->next;
      }
    }
  }
}

static tr_host *find_host(const char *url) {
  char key[512];
  size_t len = host_key(url, key, sizeof key);
  if (!len) {
    /* No host to tell: every such request shares one queue. */
    strcpy(key, "(no host)");
    len = strlen(key);
  }
  uint64_t hash = tr_fnv1a64(TR_FNV1A64_INIT, key, len);
  tr_host **bucket = &Q.buckets[hash % NBUCKETS];
  for (tr_host *h = *bucket; h; h = h->next)
    if (h->hash == hash && strcmp(h->key, key) == 0) return h;
  if (Q.hosts >= SWEEP_HOSTS) sweep();
  tr_host *h = calloc(1, sizeof *h);
  if (!h || !(h->key = strdup(key))) {
    free(h);
    return NULL;
  }
  h->hash = hash;
  tr_timer_init(&h->wake, on_wake);
  h->next = *bucket;
  *bucket = h;
  Q.hosts++;
  tr_loop_set_host_connections(Q.max_inflight, Q.hosts);
  return h;
}

static tr_hostq_class *find_class(tr_host *h, int limit, double rate, double hold) {
  if (limit <= 0 || limit > Q.max_inflight) limit = Q.max_inflight;
  if (!(hold >= 0 && hold < MAX_PAUSE)) hold = MAX_PAUSE;   /* NaN too */
  for (tr_hostq_class *c = h->classes; c; c = c->next)
    if (c->limit == limit && c->rate == rate && c->hold == hold) return c;
  tr_hostq_class *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->limit = limit;
  c->rate = rate;
  c->hold = hold;
  c->next = h->classes;
  h->classes = c;
  return c;
}

/* ---- the queue ---- */

static void unlink_queued(tr_hostq_req *q) {
  tr_hostq_class *c = q->cls;
  if (q->prev) q->prev->next = q->next;
  else c->head = q->next;
  if (q->next) q->next->prev = q->prev;
  else c->tail = q->prev;
  q->prev = q->next = NULL;
  q->host->queued--;
  q->state = Q_IDLE;
  tr_loop_disarm(&q->deadline);
}

static void start(tr_host *h, tr_hostq_class *c, double now) {
  tr_hostq_req *q = c->head;
  unlink_queued(q);
  q->state = Q_STARTED;
  q->epoch = h->epoch;
  h->inflight++;
  h->last_start = now;
  if (Q.rate > 0) h->rate_due = (h->rate_due > now ? h->rate_due : now) + 1 / Q.rate;
  if (c->rate > 0) c->due = (c->due > now ? c->due : now) + 1 / c->rate;
  if (q->start(q) != 0) {
    q->state = Q_IDLE;
    h->inflight--;
  }
}

/* When the host lets the next request of class c start, as far as time goes: its rate, and
 * the host's slowdown as far as c's hold lets it. */
static double class_due(const tr_host *h, const tr_hostq_class *c) {
  double due = c->rate > 0 ? c->due : 0;
  double pause_end = h->paused_until;
  if (h->paused_from + c->hold < pause_end) pause_end = h->paused_from + c->hold;
  if (pause_end > due) due = pause_end;
  double gap = h->spacing < c->hold ? h->spacing : c->hold;
  if (gap > 0 && h->last_start + gap > due) due = h->last_start + gap;
  return due;
}

/* Starts what may start; arms the host's wake for what waits for a time. A request that
 * waits for a slot is started by the tr_hostq_done or cancel that frees one. */
static void dispatch(tr_host *h) {
  for (;;) {
    if (!h->queued || h->inflight >= Q.max_inflight) break;
    double now = tr_now();
    if (Q.rate > 0 && h->rate_due > now) {
      tr_loop_arm(&h->wake, h->rate_due);
      return;
    }
    tr_hostq_class *best = NULL;
    double soonest = -1;
    for (tr_hostq_class *c = h->classes; c; c = c->next) {
      if (!c->head || h->inflight >= c->limit) continue;
      double due = class_due(h, c);
      if (due > now) {
        if (soonest < 0 || due < soonest) soonest = due;
        continue;
      }
      if (!best || c->head->seq < best->head->seq) best = c;
    }
    if (!best) {
      if (soonest >= 0) tr_loop_arm(&h->wake, soonest);
      else tr_loop_disarm(&h->wake);
      return;
    }
    start(h, best, now);
  }
  tr_loop_disarm(&h->wake);
}

static void on_deadline(tr_timer *t) {
  tr_hostq_req *q = (tr_hostq_req *)((char *)t - offsetof(tr_hostq_req, deadline));
  if (q->state != Q_QUEUED) return;
  tr_host *h = q->host;
  unlink_queued(q);
  q->expire(q);
  dispatch(h);
}

void tr_hostq_req_init(tr_hostq_req *q, int (*start_fn)(tr_hostq_req *q),
                       void (*expire)(tr_hostq_req *q)) {
  memset(q, 0, sizeof *q);
  q->start = start_fn;
  q->expire = expire;
  tr_timer_init(&q->deadline, on_deadline);
}

int tr_hostq_submit(tr_hostq_req *q, const char *url, int limit, double rate, double hold,
                    double deadline) {
  if (q->state != Q_IDLE) return -1;
  tr_host *h = find_host(url);
  tr_hostq_class *c = h ? find_class(h, limit, rate, hold) : NULL;
  if (!c) return -1;
  q->host = h;
  q->cls = c;
  q->seq = ++Q.seq;
  q->prev = c->tail;
  q->next = NULL;
  if (c->tail) c->tail->next = q;
  else c->head = q;
  c->tail = q;
  h->queued++;
  q->state = Q_QUEUED;
  dispatch(h);
  /* Armed only when it must wait: most requests start at once, and never touch the heap. */
  if (q->state == Q_QUEUED) tr_loop_arm(&q->deadline, deadline);
  return 0;
}

/* What a response says about the host's load. */
static void feedback(tr_host *h, const tr_hostq_req *q, long status, double retry_after) {
  double now = tr_now();
  if (!Q.slowdown) return;
  if (status == 429 || (status == 503 && retry_after > 0)) {
    double pause = retry_after > 0 ? retry_after : 1;
    if (pause > MAX_PAUSE) pause = MAX_PAUSE;
    int calm = h->spacing == 0 && h->paused_until <= now;
    if (now + pause > h->paused_until) h->paused_until = now + pause;
    h->paused_from = now;
    double spacing = pause < MAX_SPACING ? pause : MAX_SPACING;
    if (spacing > h->spacing) h->spacing = spacing;
    h->epoch++;
    if (calm)
      tr_logf(TR_LOG_INFO, "http: %s answered %ld: its requests wait %gs, then start at least "
              "%gs apart, less after each success", h->key, status, pause, h->spacing);
  } else if (status > 0 && status < 500 && h->spacing > 0 && q->epoch == h->epoch) {
    h->spacing /= 2;
    if (h->spacing < MIN_SPACING) {
      h->spacing = 0;
      tr_logf(TR_LOG_DEBUG, "http: %s answers well again: its requests start at full speed",
              h->key);
    }
  }
}

void tr_hostq_done(tr_hostq_req *q, long status, double retry_after) {
  if (q->state != Q_STARTED) return;
  tr_host *h = q->host;
  q->state = Q_IDLE;
  h->inflight--;
  feedback(h, q, status, retry_after);
  dispatch(h);
}

void tr_hostq_cancel(tr_hostq_req *q) {
  tr_host *h = q->host;
  if (q->state == Q_QUEUED) {
    unlink_queued(q);
  } else if (q->state == Q_STARTED) {
    q->state = Q_IDLE;
    h->inflight--;
  } else {
    return;
  }
  dispatch(h);
}

int tr_hostq_queued(const tr_hostq_req *q) {
  return q->state == Q_QUEUED;
}

size_t tr_hostq_explain(const tr_hostq_req *q, char *buf, size_t size) {
  const tr_host *h = q->host;
  if (!h) return (size_t)snprintf(buf, size, "(no host)");
  double now = tr_now();
  int limit = q->cls && q->cls->limit < Q.max_inflight ? q->cls->limit : Q.max_inflight;
  int n = snprintf(buf, size, "%s (%d in flight, at most %d%s%s)", h->key, h->inflight,
                   limit, h->paused_until > now || h->spacing > 0
                   ? "; it asked to slow down (429 or 503 with Retry-After)" : "",
                   (q->cls && q->cls->rate > 0) || Q.rate > 0 ? "; a request rate applies" : "");
  return n < 0 ? 0 : (size_t)n;
}

void tr_hostq_close(void) {
  for (int b = 0; b < NBUCKETS; b++) {
    while (Q.buckets[b]) {
      tr_host *h = Q.buckets[b];
      Q.buckets[b] = h->next;
      for (tr_hostq_class *c = h->classes; c; c = c->next)
        for (tr_hostq_req *q = c->head; q; q = q->next) tr_loop_disarm(&q->deadline);
      free_host(h);
    }
  }
}
