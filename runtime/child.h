/* Child processes of os.execute and io.popen: started in a process group of their own with a
 * clean signal state, waited for through a pidfd, and stopped as a group (SIGTERM, then SIGKILL
 * after a grace period) when their task is cancelled or the run ends. */
#ifndef TR_CHILD_H
#define TR_CHILD_H
#include <sys/types.h>

#include "timer.h"

/* How long a child may take to end on its own (its pipe closed) or after SIGTERM. */
#define TR_CHILD_GRACE 2.0

typedef struct tr_child tr_child;
struct tr_child {
  pid_t pid;        /* also its process group */
  int pidfd;        /* readable once it has exited */
  int status;       /* its wait status, once reaped */
  int reaped;
  /* Once released: 1 its pipe is closed and it may end on its own, 2 it was sent SIGTERM. */
  int stage;
  tr_timer grace;
  tr_child *prev, *next;
};

/* Starts `/bin/sh -c cmd`. in_fd and out_fd become its stdin and stdout when >= 0; other
 * descriptors above 2 are not inherited. Returns NULL with errno set. */
tr_child *tr_child_spawn(const char *cmd, int in_fd, int out_fd);
/* Reaps it if it has exited (without blocking). Returns whether it is reaped. */
int tr_child_reap(tr_child *c);
/* Blocks until it has exited and reaps it; its group gets SIGTERM first when `terminate`, or
 * when a stop is requested meanwhile (a signal, the deadline), then SIGKILL after the grace.
 * Returns 1 when a stop was requested while it waited, else 0. */
int tr_child_wait_blocking(tr_child *c, int terminate);
/* Its owner is done with it: a reaped child is freed; one still running is stopped (SIGTERM,
 * then SIGKILL after the grace) when `terminate`, else given the grace to end on its own
 * first. Either way it is reaped later by the loop, or at tr_child_shutdown. */
void tr_child_release(tr_child *c, int terminate);
/* Stops and reaps every child still known, blocking up to the grace periods. Call it after the
 * Lua state is closed (whose finalizers release their children) and before the loop is. */
void tr_child_shutdown(void);

#endif
