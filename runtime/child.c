/* Child processes: see child.h.
 *
 * A process group of its own lets a signal or a cancel stop the whole command, a pipeline's
 * every stage included, and keeps a terminal's Ctrl-C for taskrun, which then stops the group.
 * Every child not yet reaped is on one list, so none outlives the run: a released child is
 * reaped by its grace timer in the loop, and whatever is left at exit by tr_child_shutdown. */
#include "child.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "signals.h"
#include "stop.h"

#define POLL_WITHOUT_PIDFD_MS 50

extern char **environ;

static tr_child *children;

static void on_grace(tr_timer *t);

static void link_child(tr_child *c) {
  c->prev = NULL;
  c->next = children;
  if (children) children->prev = c;
  children = c;
}

static void free_child(tr_child *c) {
  tr_loop_disarm(&c->grace);
  if (c->prev) c->prev->next = c->next;
  else children = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
}

static void shutdown_at_exit(void) { tr_child_shutdown(); }

tr_child *tr_child_spawn(const char *cmd, int in_fd, int out_fd) {
  static int hooked;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t all, none;
  tr_child *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  posix_spawn_file_actions_init(&fa);
  if (in_fd >= 0) posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
  /* Our sockets, pipes and epoll set are none of the command's business. */
  posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
  posix_spawnattr_init(&at);
  /* taskrun ignores SIGPIPE; a command must not: `yes | head -1` would never end. */
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                POSIX_SPAWN_SETPGROUP);
  char *argv[] = { "sh", "-c", (char *)cmd, NULL };
  /* What the runbook printed comes before what the command prints. */
  fflush(stdout);
  int rc = posix_spawn(&c->pid, "/bin/sh", &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) {
    free(c);
    errno = rc;
    return NULL;
  }
  tr_signals_watch_group(c->pid);
  c->pidfd = pidfd_open(c->pid, 0);
  /* No pidfd (a kernel before 5.3, or valgrind): the command still runs, but waiting for it
   * blocks the loop, and the waits below look at it every POLL_WITHOUT_PIDFD_MS instead. */
  if (c->pidfd < 0 && errno != ENOSYS) {
    int saved = errno;
    kill(-c->pid, SIGKILL);
    tr_signals_unwatch_group(c->pid);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {}
    free(c);
    errno = saved;
    return NULL;
  }
  tr_timer_init(&c->grace, on_grace);
  link_child(c);
  if (!hooked) hooked = atexit(shutdown_at_exit) == 0;
  return c;
}

static int exited(const tr_child *c) {
  if (c->pidfd < 0) {
    siginfo_t si;
    si.si_pid = 0;
    return waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
  }
  struct pollfd p = { .fd = c->pidfd, .events = POLLIN };
  return poll(&p, 1, 0) > 0;
}

/* A poll timeout for a child: without a pidfd, poll cannot see it end, so look again soon. */
static int poll_ms(const tr_child *c, int ms) {
  return c->pidfd >= 0 || (ms >= 0 && ms < POLL_WITHOUT_PIDFD_MS) ? ms : POLL_WITHOUT_PIDFD_MS;
}

/* Reaps a child that has exited. One that was sent SIGTERM takes what is left of its group
 * with it: a pipeline stage that ignored SIGTERM must not outlive the stop. */
static void reap(tr_child *c) {
  if (c->stage == 2) kill(-c->pid, SIGKILL);
  tr_signals_unwatch_group(c->pid);
  while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR) {}
  if (c->pidfd >= 0) close(c->pidfd);
  c->pidfd = -1;
  c->reaped = 1;
}

int tr_child_reap(tr_child *c) {
  if (!c->reaped && exited(c)) reap(c);
  return c->reaped;
}

static void terminate(tr_child *c) {
  c->stage = 2;
  kill(-c->pid, SIGTERM);
  /* A stopped process acts on SIGTERM only once it runs again. */
  kill(-c->pid, SIGCONT);
  c->grace.due = tr_now() + TR_CHILD_GRACE;
}

int tr_child_wait_blocking(tr_child *c, int stop) {
  int stopped = 0;
  if (c->reaped) return 0;
  if (stop) terminate(c);
  while (!exited(c)) {
    struct pollfd p = { .fd = c->pidfd, .events = POLLIN };
    if (c->stage == 2) {
      double left = c->grace.due - tr_now();
      if (left <= 0) {
        kill(-c->pid, SIGKILL);
        left = 3600;   /* it cannot ignore that: now wait for it to go */
      }
      poll(&p, 1, poll_ms(c, (int)(left * 1000) + 1));
    } else if (tr_signals_poll(&p, 1, poll_ms(c, -1)) < 0 && errno == EINTR &&
               tr_stop_state_now() == TR_STOP_REQUESTED) {
      stopped = 1;
      terminate(c);
    }
  }
  reap(c);
  return stopped;
}

/* A released child's grace is over: a child that was left to end on its own is sent SIGTERM,
 * one sent SIGTERM is killed; either way it is reaped as soon as it has gone. */
static void on_grace(tr_timer *t) {
  tr_child *c = (tr_child *)((char *)t - offsetof(tr_child, grace));
  if (!tr_child_reap(c)) {
    if (c->stage == 1) terminate(c);
    else kill(-c->pid, SIGKILL);
    /* After SIGKILL, look again shortly: it is gone once the kernel has torn it down. */
    tr_loop_arm(&c->grace, c->stage == 1 ? c->grace.due : tr_now() + 0.05);
    return;
  }
  free_child(c);
}

void tr_child_release(tr_child *c, int stop) {
  if (tr_child_reap(c)) {
    free_child(c);
    return;
  }
  if (stop) {
    terminate(c);
  } else {
    c->stage = 1;
    c->grace.due = tr_now() + TR_CHILD_GRACE;
  }
  tr_loop_arm(&c->grace, c->grace.due);
}

void tr_child_shutdown(void) {
  for (tr_child *c = children; c; c = c->next) {
    tr_loop_disarm(&c->grace);
    /* Still owned at exit (os.exit while a task waited on it): stop it now. */
    if (c->stage == 0) terminate(c);
  }
  while (children) {
    struct pollfd p[64];
    nfds_t n = 0;
    int blind = 0;   /* a child without a pidfd */
    double now = tr_now(), next = now + 3600;
    for (tr_child *c = children, *after; c; c = after) {
      after = c->next;
      if (tr_child_reap(c)) {
        free_child(c);
        continue;
      }
      if (c->grace.due <= now) {
        if (c->stage == 1) {
          terminate(c);
        } else {
          kill(-c->pid, SIGKILL);
          /* It is gone once the kernel has torn it down: look again soon. */
          c->grace.due = now + 0.05;
        }
      }
      if (c->grace.due < next) next = c->grace.due;
      /* Past 64, the others are looked at when the wait ends: at the latest at `next`. */
      blind |= c->pidfd < 0;
      if (n < 64) {
        p[n].fd = c->pidfd;
        p[n].events = POLLIN;
        n++;
      }
    }
    if (n == 0) break;
    /* Wakes for the first to exit or the next grace to end. */
    int ms = (int)((next - now) * 1000) + 1;
    poll(p, n, blind && ms > POLL_WITHOUT_PIDFD_MS ? POLL_WITHOUT_PIDFD_MS : ms);
  }
}
