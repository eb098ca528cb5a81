/* The handler only records the signal and wakes the loop: all real work (cancelling tasks,
 * running <close> handlers, flushing logs) happens in the loop, outside signal context. */
#include "signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"

static volatile sig_atomic_t pending;
static volatile pid_t child;

static void on_signal(int sig) {
  if (pending) {
    /* Second signal: the user means it. Do not leave the simulator behind. */
    if (child > 0) kill(child, SIGTERM);
    _exit(128 + sig);
  }
  pending = sig;
  tr_loop_wake();
}

void tr_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

int tr_signals_pending(void) { return pending; }

void tr_signals_watch_child(pid_t pid) { child = pid; }
