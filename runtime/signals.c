/* The handlers only record the signal, stop running Lua code (stop.c) and wake the loop: all
 * real work (cancelling tasks, running <close> handlers, flushing logs) happens in the loop,
 * outside signal context. */
#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "loop.h"
#include "stop.h"

/* Children running at once whose group a second signal kills; more go unwatched. */
#define TR_MAX_GROUPS 1024

static volatile sig_atomic_t pending;
static volatile sig_atomic_t deadline_passed;
static volatile pid_t child;
static volatile pid_t groups[TR_MAX_GROUPS];

/* A process-wide signal may land on another thread (libcurl's resolver), notably while the main
 * thread blocks it in tr_signals_poll: the hooks must be set by the thread that runs Lua, so
 * hand it on; the main thread takes it once it unblocks. */
static int forwarded(int sig) {
  pid_t main_thread = getpid();
  if (gettid() == main_thread) return 0;
  int saved = errno;
  tgkill(main_thread, main_thread, sig);
  errno = saved;
  return 1;
}

/* Async-signal-safe: leaves neither the simulator nor a command behind, and exits. */
static void exit_now(int code) {
  if (child > 0) kill(child, SIGTERM);
  for (int i = 0; i < TR_MAX_GROUPS; i++)
    if (groups[i] > 0) kill(-groups[i], SIGKILL);
  _exit(code);
}

void tr_signals_exit_now(int code) {
  fflush(stdout);
  exit_now(code);
}

static void on_signal(int sig) {
  if (forwarded(sig)) return;
  /* Second signal: the user means it. */
  if (pending) exit_now(128 + sig);
  pending = sig;
  tr_stop_request();
  tr_loop_wake();
}

static void on_deadline(int sig) {
  if (forwarded(sig)) return;
  deadline_passed = 1;
  tr_stop_request();
  tr_loop_wake();
}

void tr_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  /* A write to stdout interrupted by a signal goes on; waits for events check for it. */
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_deadline;
  sigaction(SIGALRM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

int tr_signals_pending(void) { return pending; }

void tr_signals_watch_child(pid_t pid) { child = pid; }

void tr_signals_watch_group(pid_t pgid) {
  for (int i = 0; i < TR_MAX_GROUPS; i++)
    if (groups[i] == 0) {
      groups[i] = pgid;
      return;
    }
}

void tr_signals_unwatch_group(pid_t pgid) {
  for (int i = 0; i < TR_MAX_GROUPS; i++)
    if (groups[i] == pgid) {
      groups[i] = 0;
      return;
    }
}

void tr_signals_arm_deadline(double seconds) {
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_sec = (time_t)seconds;
  it.it_value.tv_usec = (suseconds_t)((seconds - (double)it.it_value.tv_sec) * 1e6);
  if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0) it.it_value.tv_usec = 1;
  setitimer(ITIMER_REAL, &it, NULL);
}

int tr_signals_deadline_passed(void) { return deadline_passed; }

int tr_signals_poll(struct pollfd *fds, nfds_t n, int timeout_ms) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGALRM);
  /* Blocked from the check until ppoll atomically unblocks them: none slips in between. */
  sigprocmask(SIG_BLOCK, &block, &old);
  int r;
  if (tr_stop_state_now() == TR_STOP_REQUESTED) {
    errno = EINTR;
    r = -1;
  } else {
    struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
    r = ppoll(fds, n, timeout_ms < 0 ? NULL : &ts, &old);
  }
  int saved = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  errno = saved;
  return r;
}

void tr_signals_reset_child(void) {
  sigset_t none;
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGALRM, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}
