/* Politeness per host (scheme, host and port), for every request of the process: a bound on
 * the requests in flight, an optional request rate, and a slowdown when the host answers 429
 * (or 503 with Retry-After). A request beyond them waits in its host's queue, first come first
 * served, and gives up when its deadline passes there, never sent. The queue is ours, not
 * libcurl's: a queued request holds no easy handle and costs libcurl nothing.
 *
 * Everything here runs inside the loop or in a binding's C code; it never runs Lua. */
#ifndef TR_HOSTQ_H
#define TR_HOSTQ_H
#include <stddef.h>
#include <stdint.h>

#include "timer.h"

#define TR_HOSTQ_DEFAULT_MAX_INFLIGHT 32
#define TR_HOSTQ_MAX_INFLIGHT_CAP 100000
/* The longest a host's Retry-After holds its requests back (a wait's default max_retry_after). */
#define TR_HOSTQ_MAX_HOLD 300.0

typedef struct tr_host tr_host;
typedef struct tr_hostq_class tr_hostq_class;
typedef struct tr_hostq_req tr_hostq_req;

/* One request's place. The owner sets `start` and `expire` (tr_hostq_req_init) and embeds it;
 * the rest is the queue's own. */
struct tr_hostq_req {
  /* Its turn: start the transfer now. Returns 0, or -1 when it could not start (the owner
   * records why and completes its wait; the slot is given back). */
  int (*start)(tr_hostq_req *q);
  /* Its deadline passed while it was queued: it was never sent. */
  void (*expire)(tr_hostq_req *q);
  tr_host *host;
  tr_hostq_class *cls;
  tr_hostq_req *prev, *next;
  uint64_t seq;        /* arrival order, for first come first served across classes */
  unsigned epoch;      /* the host's slowdown epoch when it started */
  int state;           /* idle, queued or started */
  tr_timer deadline;
};

/* Reads TASKRUN_MAX_INFLIGHT and TASKRUN_RATE. Returns 0, or -1 with a usage message naming
 * the variable in msg. */
int tr_hostq_setup(char *msg, size_t size);
/* Frees every host; nothing may be queued or in flight. Call it before the loop closes (their
 * timers live in its heap). */
void tr_hostq_close(void);
/* Whether a 429 or 503 slows its host down (on by default). The fuzz targets turn it off: a
 * fuzzed Retry-After would hold an input's next requests back for minutes. */
void tr_hostq_set_slowdown(int on);
/* TASKRUN_MAX_INFLIGHT, or the default. */
int tr_hostq_max_inflight(void);

/* "20/s", "100/m", "0.5/s", "3/h" as requests per second. Returns 0, or -1 with *why saying
 * what is wrong (a static string). */
int tr_hostq_parse_rate(const char *text, double *per_second, const char **why);

void tr_hostq_req_init(tr_hostq_req *q, int (*start)(tr_hostq_req *q),
                       void (*expire)(tr_hostq_req *q));
/* Queues q for the host of `url` (its scheme, host and port). `limit` (0: none) lowers the
 * process's bound on that host's requests in flight for q; `rate` (requests per second, 0:
 * none) adds a bucket of its own, shared by the requests to that host made with that rate;
 * `hold` caps how long the host's slowdown after a 429 holds q back (a wait's max_retry_after;
 * TR_HOSTQ_MAX_HOLD at most). q gives up at `deadline` (monotonic seconds). q->start runs
 * before this returns when q may start at once. Returns 0, or -1 when out of memory (nothing
 * queued). */
int tr_hostq_submit(tr_hostq_req *q, const char *url, int limit, double rate, double hold,
                    double deadline);
/* q's transfer ended with HTTP status `status` (0: no response) and Retry-After `retry_after`
 * seconds (0: none): frees its slot, tells the host's slowdown, starts what may start. */
void tr_hostq_done(tr_hostq_req *q, long status, double retry_after);
/* Takes q out, never sent if it was queued, its slot freed if it had started; harmless when it
 * is neither. */
void tr_hostq_cancel(tr_hostq_req *q);
/* Whether q waits in a queue. */
int tr_hostq_queued(const tr_hostq_req *q);
/* For messages: q's host ("scheme://host:port"), its requests in flight, q's bound on them and
 * what else holds it back, into buf. Returns the length snprintf reports. */
size_t tr_hostq_explain(const tr_hostq_req *q, char *buf, size_t size);

#endif
