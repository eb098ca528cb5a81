/* taskrun --sim: a taskrun-sim for the length of one run, with every provider pointed at it. */
#ifndef TR_SIMLAUNCH_H
#define TR_SIMLAUNCH_H
#include <sys/types.h>

typedef struct {
  pid_t pid;
  int out;   /* the read end of the simulator's stdout */
} tr_sim_child;

/* What --sim-scenario, --sim-speed and --sim-token-ttl pass on (NULL: not given), as
 * taskrun-sim's --scenario, --speed and --token-ttl spell them; main.c validated them. */
typedef struct {
  const char *scenario;
  const char *speed;
  const char *token_ttl;
} tr_sim_opts;

/* Starts taskrun-sim on a free loopback port with `opts` and sets the provider variables.
 * Returns 0, or the exit code after reporting why not: 1, 2 when the simulator refused its
 * options (a scenario file it cannot use), or 130/143 when SIGINT/SIGTERM came meanwhile. */
int tr_sim_start(tr_sim_child *sim, const char *argv0, const tr_sim_opts *opts);
/* Stops it and waits for it. */
void tr_sim_stop(tr_sim_child *sim);

#endif
