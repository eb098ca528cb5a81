/* taskrun --sim: a taskrun-sim for the length of one run, with every provider pointed at it. */
#ifndef TR_SIMLAUNCH_H
#define TR_SIMLAUNCH_H
#include <sys/types.h>

typedef struct {
  pid_t pid;
  int out;   /* the read end of the simulator's stdout */
} tr_sim_child;

/* Starts taskrun-sim on a free loopback port and sets the provider variables. 0 or -1. */
int tr_sim_start(tr_sim_child *sim, const char *argv0);
/* Stops it and waits for it. */
void tr_sim_stop(tr_sim_child *sim);

#endif
