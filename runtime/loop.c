/* libcurl's socket interface on epoll: libcurl tells us which sockets to watch and when its own
 * timeout is due; we tell it which sockets became ready. Scales to thousands of transfers,
 * where curl_multi_poll would rescan every socket on every pass.
 *
 * Transfers are spread over several multi handles ("shards"), each with its own connection
 * cache. libcurl 7.88 walks a multi's whole cache on every transfer (looking for a connection
 * to reuse, and again in curl_multi_remove_handle), so one multi holding 10,000 connections to
 * the simulator made each request ~3x dearer than shards do (bench/fanout.lua, 10,000 waits
 * with TASKRUN_MAX_INFLIGHT=10000). A shard takes new transfers until TR_SHARD_TRANSFERS are in
 * flight on it, then the next one does. Requests in flight are bounded per host
 * (runtime/hostq.c, 32 by default), so a run that keeps fewer than TR_SHARD_TRANSFERS in flight
 * in all (8 hosts busy at the default bound) stays on the first shard: there libcurl's own cap
 * on a host's connections (CURLMOPT_MAX_HOST_CONNECTIONS, set to that bound) is exact and every
 * kept connection can be reused. The other shards serve runs that raise the bound. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* At ~1,000 connections per cache the walk did not show in the per-request cost; 256 leaves
 * room. 64 shards keep 16,384 transfers under that bound; beyond it, the least loaded. */
#define TR_SHARD_TRANSFERS 256
#define TR_MAX_SHARDS 64
/* The upper half of a watched descriptor's epoll cookie: no shard has this index. */
#define TR_WATCH_TAG 0xFFFFFFFEu

/* What the loop knows of one descriptor. A connection's socket stays in the epoll set between
 * its transfers ("parked"), so that a request on a kept connection costs no epoll_ctl: two
 * system calls of the ~6 a request makes, ~1.5 us each on a VM. That is safe only while the
 * descriptor is the socket it was: parking is kept to sockets the loop saw opened (through
 * tr_loop_socket_opened) that libcurl watched for reading alone, which libcurl 7.88 does only
 * once the socket is its connection's own, and such a socket is closed only through
 * tr_loop_close_socket, which forgets it. A socket libcurl closes by itself (a connect
 * attempt that lost, the resolver's socketpair) is never parked: its DEL happens as before. */
typedef struct {
  tr_watch *watch;       /* a watch of ours on it, or NULL */
  uint8_t curl_events;   /* EPOLLIN/EPOLLOUT it is registered with for libcurl; 0: not */
  uint8_t shard;         /* the shard in that registration's cookie */
  uint8_t opened;        /* opened for a connection (tr_loop_socket_opened), not closed since */
  uint8_t parked;        /* registered, but libcurl no longer watches it */
} tr_fd;

typedef struct {
  CURLM *multi;
  double curl_due;   /* when libcurl wants CURL_SOCKET_TIMEOUT; < 0: not wanted */
  int transfers;
  uint32_t index;
} tr_shard;

static struct {
  int epfd;
  int wake_r, wake_w;
  int curl_ready;
  int transfers;
  int nshards;
  tr_shard shards[TR_MAX_SHARDS];
  tr_heap timers;
  tr_fd *fds;           /* indexed by descriptor */
  int nfds;             /* the size of that array */
  int watches;          /* watches in force */
  long host_connections, max_connections;   /* 0: libcurl's defaults */
} lp = { -1, -1, -1, 0, 0, 0, { { 0 } }, { 0 }, NULL, 0, 0, 0, 0 };

/* The descriptor's entry, the array grown to hold it; NULL when out of memory. */
static tr_fd *fd_entry(int fd) {
  if (fd < 0) return NULL;
  if (fd >= lp.nfds) {
    int n = lp.nfds ? lp.nfds : 64;
    while (n <= fd) n *= 2;
    tr_fd *v = realloc(lp.fds, (size_t)n * sizeof *v);
    if (!v) return NULL;
    memset(v + lp.nfds, 0, (size_t)(n - lp.nfds) * sizeof *v);
    lp.fds = v;
    lp.nfds = n;
  }
  return &lp.fds[fd];
}

/* The epoll cookie of a socket: its shard above, the descriptor below. */
static uint64_t cookie(const tr_shard *sh, curl_socket_t s) {
  return ((uint64_t)sh->index << 32) | (uint32_t)s;
}

/* Puts s in the epoll set for `events` under cookie c: ADD when it was not registered, MOD when
 * it was, each falling back on the other, for the guess is wrong when a descriptor number came
 * back as another socket behind our back. */
static void register_socket(curl_socket_t s, int was_registered, uint32_t events, uint64_t c) {
  struct epoll_event ev = { .events = events, .data.u64 = c };
  if (!was_registered) {
    if (epoll_ctl(lp.epfd, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST)
      epoll_ctl(lp.epfd, EPOLL_CTL_MOD, s, &ev);
  } else if (epoll_ctl(lp.epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT) {
    epoll_ctl(lp.epfd, EPOLL_CTL_ADD, s, &ev);
  }
}

/* Nothing registered for libcurl, nothing parked, not a connection's socket. */
static void forget_socket(tr_fd *f) {
  if (f) f->curl_events = f->parked = f->opened = 0;
}

static void unregister_socket(curl_socket_t s, tr_fd *f) {
  /* libcurl may already have closed it; EBADF is fine. */
  epoll_ctl(lp.epfd, EPOLL_CTL_DEL, s, NULL);
  forget_socket(f);
}

static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  tr_shard *sh = userp;
  tr_fd *f = fd_entry(s);   /* NULL (out of memory): no parking, ADD and DEL as they come */
  if (what == CURL_POLL_REMOVE) {
    if (f && f->opened && f->curl_events == EPOLLIN) f->parked = 1;
    else unregister_socket(s, f);
    return 0;
  }
  uint32_t events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
  if (!f) {
    register_socket(s, 0, events, cookie(sh, s));
    return 0;
  }
  f->parked = 0;
  if (f->curl_events == events && f->shard == sh->index) return 0;
  register_socket(s, f->curl_events != 0, events, cookie(sh, s));
  f->curl_events = (uint8_t)events;
  f->shard = (uint8_t)sh->index;
  return 0;
}

void tr_loop_socket_opened(int fd) {
  tr_fd *f = fd_entry(fd);
  /* A new socket: whatever the number held before is gone from the epoll set with it. */
  if (f) *f = (tr_fd){ .watch = f->watch, .opened = 1 };
}

int tr_loop_close_socket(void *unused, curl_socket_t fd) {
  tr_fd *f = fd >= 0 && fd < lp.nfds ? &lp.fds[fd] : NULL;
  /* Closing drops it from the epoll set, for no other descriptor refers to the socket: it is
   * close-on-exec, and a child spawned while sockets exist (runtime/child.c) is made by
   * posix_spawn, whose caller waits for the exec. */
  forget_socket(f);
  return close(fd);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  tr_shard *sh = userp;
  sh->curl_due = timeout_ms < 0 ? -1 : tr_now() + (double)timeout_ms / 1000.0;
  return 0;
}

static int set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int tr_loop_init(void) {
  int fds[2];
  lp.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (lp.epfd < 0) return -1;
  if (pipe2(fds, O_CLOEXEC) < 0) return -1;
  lp.wake_r = fds[0];
  lp.wake_w = fds[1];
  if (set_nonblocking(lp.wake_r) < 0 || set_nonblocking(lp.wake_w) < 0) return -1;
  /* The wake pipe's cookie is one no socket can have: shard indexes stay below the maximum. */
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
  return epoll_ctl(lp.epfd, EPOLL_CTL_ADD, lp.wake_r, &ev);
}

static void limit_connections(CURLM *multi) {
  if (lp.host_connections > 0)
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, lp.host_connections);
  if (lp.max_connections > 0) curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, lp.max_connections);
}

void tr_loop_set_host_connections(int per_host, int hosts) {
  lp.host_connections = per_host;
  lp.max_connections = (long)per_host * (hosts > 1 ? hosts : 1);
  for (int i = 0; i < lp.nshards; i++) limit_connections(lp.shards[i].multi);
}

/* Opens one more shard. Returns it, or NULL. */
static tr_shard *add_shard(void) {
  if (!lp.curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
    lp.curl_ready = 1;
  }
  if (lp.nshards == TR_MAX_SHARDS) return NULL;
  tr_shard *sh = &lp.shards[lp.nshards];
  sh->multi = curl_multi_init();
  if (!sh->multi) return NULL;
  sh->index = (uint32_t)lp.nshards++;
  sh->curl_due = -1;
  sh->transfers = 0;
  curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
  curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
  curl_multi_setopt(sh->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  limit_connections(sh->multi);
  return sh;
}

CURLM *tr_loop_multi(void) {
  if (lp.nshards > 0) return lp.shards[0].multi;
  tr_shard *sh = add_shard();
  return sh ? sh->multi : NULL;
}

/* The first shard with room, a new one, or else the least loaded. */
static tr_shard *pick_shard(void) {
  tr_shard *least = NULL;
  for (int i = 0; i < lp.nshards; i++) {
    tr_shard *sh = &lp.shards[i];
    if (sh->transfers < TR_SHARD_TRANSFERS) return sh;
    if (!least || sh->transfers < least->transfers) least = sh;
  }
  tr_shard *fresh = add_shard();
  return fresh ? fresh : least;
}

int tr_loop_start_transfer(CURL *easy, tr_transfer *x) {
  if (!tr_loop_multi()) return CURLM_OUT_OF_MEMORY;
  tr_shard *sh = pick_shard();
  x->shard = sh;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, tr_loop_close_socket);
  CURLMcode rc = curl_multi_add_handle(sh->multi, easy);
  if (rc != CURLM_OK) {
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    return rc;
  }
  sh->transfers++;
  lp.transfers++;
  return rc;
}

void tr_loop_stop_transfer(CURL *easy) {
  /* Only a transfer of ours has PRIVATE set: stopping twice, or after completion, is a no-op. */
  tr_transfer *x = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
  if (!x || lp.nshards == 0) return;
  tr_shard *sh = x->shard;
  if (curl_multi_remove_handle(sh->multi, easy) == CURLM_OK) {
    sh->transfers--;
    lp.transfers--;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
  }
}

void tr_loop_arm(tr_timer *t, double due) {
  /* Out of memory here leaves the timer unarmed; the heap grows rarely and by doubling. */
  (void)tr_heap_arm(&lp.timers, t, due);
}

void tr_loop_disarm(tr_timer *t) {
  tr_heap_disarm(&lp.timers, t);
}

void tr_watch_init(tr_watch *w, void (*fire)(tr_watch *w)) {
  w->fire = fire;
  w->fd = -1;
}

int tr_loop_watch(tr_watch *w, int fd, uint32_t events) {
  tr_fd *f = fd_entry(fd);
  if (!f) return -1;
  struct epoll_event ev = { .events = events };
  ev.data.u64 = ((uint64_t)TR_WATCH_TAG << 32) | (uint32_t)fd;
  if (epoll_ctl(lp.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return -1;
  f->watch = w;
  w->fd = fd;
  lp.watches++;
  return 0;
}

void tr_loop_unwatch(tr_watch *w) {
  if (w->fd < 0) return;
  epoll_ctl(lp.epfd, EPOLL_CTL_DEL, w->fd, NULL);
  lp.fds[w->fd].watch = NULL;
  w->fd = -1;
  lp.watches--;
}

/* A watched descriptor is ready: end its watch, then tell its owner. */
static void dispatch_watch(int fd) {
  tr_watch *w = fd < lp.nfds ? lp.fds[fd].watch : NULL;
  if (!w) return;
  tr_loop_unwatch(w);
  w->fire(w);
}

/* An event on a parked socket: the server closed the kept connection, or data came that no
 * transfer asked for. Not libcurl's business until it reuses the connection, when its own
 * check finds it dead; level-triggered epoll would repeat it, so it leaves the set. */
static int parked_event(curl_socket_t s) {
  tr_fd *f = s < lp.nfds ? &lp.fds[s] : NULL;
  if (!f || !f->parked) return 0;
  unregister_socket(s, f);
  return 1;
}

int tr_loop_idle(void) {
  return lp.transfers == 0 && lp.watches == 0 && tr_heap_top(&lp.timers) == NULL;
}

void tr_loop_wake(void) {
  int saved = errno;
  ssize_t n = write(lp.wake_w, "!", 1);
  (void)n;
  errno = saved;
}

/* Hands the finished transfers of one shard to their owners. */
static void collect_done(tr_shard *sh) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(sh->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    tr_transfer *x = NULL;
    CURL *easy = msg->easy_handle;
    CURLcode rc = msg->data.result;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    tr_loop_stop_transfer(easy);
    if (x) x->done(x, rc);
  }
}

static void fire_due_timers(double now) {
  tr_timer *t;
  while ((t = tr_heap_top(&lp.timers)) && t->due <= now) {
    tr_heap_disarm(&lp.timers, t);
    t->fire(t);
  }
}

static int wait_ms(double max_wait, double now) {
  double due = max_wait < 0 ? -1 : now + max_wait;
  tr_timer *t = tr_heap_top(&lp.timers);
  if (t && (due < 0 || t->due < due)) due = t->due;
  for (int i = 0; i < lp.nshards; i++) {
    double d = lp.shards[i].curl_due;
    if (d >= 0 && (due < 0 || d < due)) due = d;
  }
  if (due < 0) return -1;
  double ms = (due - now) * 1000.0;
  /* Round up: waking a hair early would spin once more for nothing. */
  return ms <= 0 ? 0 : ms > 86400000.0 ? 86400000 : (int)ms + 1;
}

void tr_loop_run_once(double max_wait) {
  struct epoll_event evs[256];
  int running;
  int n = epoll_wait(lp.epfd, evs, 256, wait_ms(max_wait, tr_now()));
  for (int i = 0; i < n; i++) {
    uint64_t c = evs[i].data.u64;
    if (c == UINT64_MAX) {
      char buf[64];
      while (read(lp.wake_r, buf, sizeof buf) > 0) {}
      continue;
    }
    if ((uint32_t)(c >> 32) == TR_WATCH_TAG) {
      dispatch_watch((int)(uint32_t)c);
      continue;
    }
    curl_socket_t s = (curl_socket_t)(uint32_t)c;
    if (parked_event(s)) continue;
    int flags = 0;
    if (evs[i].events & (EPOLLIN | EPOLLHUP)) flags |= CURL_CSELECT_IN;
    if (evs[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
    if (evs[i].events & EPOLLERR) flags |= CURL_CSELECT_ERR;
    tr_shard *sh = &lp.shards[c >> 32];
    curl_multi_socket_action(sh->multi, s, flags, &running);
  }
  double now = tr_now();
  for (int i = 0; i < lp.nshards; i++) {
    tr_shard *sh = &lp.shards[i];
    if (sh->curl_due >= 0 && sh->curl_due <= now) {
      sh->curl_due = -1;
      curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    collect_done(sh);
  }
  fire_due_timers(now);
}

void tr_loop_close(void) {
  for (int i = 0; i < lp.nshards; i++) curl_multi_cleanup(lp.shards[i].multi);
  lp.nshards = 0;
  if (lp.curl_ready) curl_global_cleanup();
  lp.curl_ready = 0;
  tr_heap_free(&lp.timers);
  free(lp.fds);
  lp.fds = NULL;
  lp.nfds = lp.watches = 0;
  if (lp.epfd >= 0) close(lp.epfd);
  if (lp.wake_r >= 0) close(lp.wake_r);
  if (lp.wake_w >= 0) close(lp.wake_w);
  lp.epfd = lp.wake_r = lp.wake_w = -1;
}
