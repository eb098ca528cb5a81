/* SIGINT and SIGTERM: the first asks the loop to cancel everything; a second exits at once. */
#ifndef TR_SIGNALS_H
#define TR_SIGNALS_H
#include <sys/types.h>

void tr_signals_install(void);
/* The signal received, or 0. */
int tr_signals_pending(void);
/* A child process to stop when taskrun exits abruptly (the simulator of --sim), or 0. */
void tr_signals_watch_child(pid_t pid);

#endif
