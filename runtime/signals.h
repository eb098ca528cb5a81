/* SIGINT and SIGTERM: the first asks the loop to cancel everything; a second exits at once.
 * The --timeout deadline is a timer signal (SIGALRM): a signal, unlike a loop timer, also
 * reaches Lua code that never yields (see stop.h). */
#ifndef TR_SIGNALS_H
#define TR_SIGNALS_H
#include <poll.h>
#include <sys/types.h>

void tr_signals_install(void);
/* The signal received, or 0. */
int tr_signals_pending(void);
/* A child process to stop when taskrun exits abruptly (the simulator of --sim), or 0. */
void tr_signals_watch_child(pid_t pid);
/* A child's process group to kill when a second signal exits at once; unwatch it before the
 * child is reaped. */
void tr_signals_watch_group(pid_t pgid);
void tr_signals_unwatch_group(pid_t pgid);

/* Exits at once with `code`, as a second signal does: the simulator gets SIGTERM, every
 * command's process group SIGKILL; no <close> handler runs. */
void tr_signals_exit_now(int code);

/* Starts the --timeout clock: after `seconds`, tr_signals_deadline_passed() is true, running
 * Lua code is stopped and the loop woken. */
void tr_signals_arm_deadline(double seconds);
int tr_signals_deadline_passed(void);

/* poll(), except that it returns -1 with errno EINTR as soon as a stop is requested (a signal
 * or the deadline, see stop.h), even one that came just before the call. */
int tr_signals_poll(struct pollfd *fds, nfds_t n, int timeout_ms);

/* Sets the signal state a child must start with, in a child between fork and exec: default
 * dispositions (SIGPIPE is ignored here) and nothing blocked. */
void tr_signals_reset_child(void);

#endif
