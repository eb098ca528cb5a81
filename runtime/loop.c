/* libcurl's socket interface on epoll: libcurl tells us which sockets to watch and when its own
 * timeout is due; we tell it which sockets became ready. Scales to thousands of transfers,
 * where curl_multi_poll would rescan every socket on every pass. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

static struct {
  int epfd;
  int wake_r, wake_w;
  CURLM *multi;
  int curl_ready;
  double curl_due;   /* when libcurl wants CURL_SOCKET_TIMEOUT; < 0: not wanted */
  int transfers;
  tr_heap timers;
} lp = { -1, -1, -1, NULL, 0, -1, 0, { 0 } };

static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  struct epoll_event ev = { 0 };
  ev.data.fd = s;
  if (what == CURL_POLL_REMOVE) {
    /* libcurl may already have closed it; EBADF is fine. */
    epoll_ctl(lp.epfd, EPOLL_CTL_DEL, s, NULL);
    curl_multi_assign(lp.multi, s, NULL);
    return 0;
  }
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
  if (socketp == NULL) {
    /* A reused descriptor number can still be in the set: fall back to MOD. */
    if (epoll_ctl(lp.epfd, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST)
      epoll_ctl(lp.epfd, EPOLL_CTL_MOD, s, &ev);
    curl_multi_assign(lp.multi, s, (void *)1);
  } else if (epoll_ctl(lp.epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT) {
    epoll_ctl(lp.epfd, EPOLL_CTL_ADD, s, &ev);
  }
  return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  lp.curl_due = timeout_ms < 0 ? -1 : tr_now() + (double)timeout_ms / 1000.0;
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
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = lp.wake_r };
  return epoll_ctl(lp.epfd, EPOLL_CTL_ADD, lp.wake_r, &ev);
}

CURLM *tr_loop_multi(void) {
  if (lp.multi) return lp.multi;
  if (!lp.curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
    lp.curl_ready = 1;
  }
  lp.multi = curl_multi_init();
  if (!lp.multi) return NULL;
  curl_multi_setopt(lp.multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(lp.multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  return lp.multi;
}

int tr_loop_start_transfer(CURL *easy, tr_transfer *x) {
  CURLM *multi = tr_loop_multi();
  if (!multi) return CURLM_OUT_OF_MEMORY;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
  CURLMcode rc = curl_multi_add_handle(multi, easy);
  if (rc == CURLM_OK) lp.transfers++;
  return rc;
}

void tr_loop_stop_transfer(CURL *easy) {
  if (lp.multi && curl_multi_remove_handle(lp.multi, easy) == CURLM_OK) {
    /* remove_handle also succeeds for a handle that is not in the multi: count only ours. */
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    if (priv) {
      lp.transfers--;
      curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    }
  }
}

void tr_loop_arm(tr_timer *t, double due) {
  /* Out of memory here leaves the timer unarmed; the heap grows rarely and by doubling. */
  (void)tr_heap_arm(&lp.timers, t, due);
}

void tr_loop_disarm(tr_timer *t) {
  tr_heap_disarm(&lp.timers, t);
}

int tr_loop_idle(void) {
  return lp.transfers == 0 && tr_heap_top(&lp.timers) == NULL;
}

void tr_loop_wake(void) {
  int saved = errno;
  ssize_t n = write(lp.wake_w, "!", 1);
  (void)n;
  errno = saved;
}

/* Hands finished transfers to their owners. */
static void collect_done(void) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(lp.multi, &left))) {
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
  if (lp.curl_due >= 0 && (due < 0 || lp.curl_due < due)) due = lp.curl_due;
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
    int fd = evs[i].data.fd;
    if (fd == lp.wake_r) {
      char buf[64];
      while (read(lp.wake_r, buf, sizeof buf) > 0) {}
      continue;
    }
    int flags = 0;
    if (evs[i].events & (EPOLLIN | EPOLLHUP)) flags |= CURL_CSELECT_IN;
    if (evs[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
    if (evs[i].events & EPOLLERR) flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(lp.multi, fd, flags, &running);
  }
  double now = tr_now();
  if (lp.multi && lp.curl_due >= 0 && lp.curl_due <= now) {
    lp.curl_due = -1;
    curl_multi_socket_action(lp.multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  if (lp.multi) collect_done();
  fire_due_timers(now);
}

void tr_loop_close(void) {
  if (lp.multi) {
    curl_multi_cleanup(lp.multi);
    lp.multi = NULL;
  }
  if (lp.curl_ready) curl_global_cleanup();
  lp.curl_ready = 0;
  tr_heap_free(&lp.timers);
  if (lp.epfd >= 0) close(lp.epfd);
  if (lp.wake_r >= 0) close(lp.wake_r);
  if (lp.wake_w >= 0) close(lp.wake_w);
  lp.epfd = lp.wake_r = lp.wake_w = -1;
}
