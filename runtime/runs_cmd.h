/* `taskrun runs`: list, show and prune the journaled runs, and resolve a call in doubt. */
#ifndef TR_RUNS_CMD_H
#define TR_RUNS_CMD_H

/* Runs the subcommand with its arguments (after "runs"); `state_dir` is --state-dir given
 * before it, or NULL. Returns the exit code: 0, 1 (no such run, a journal error), 2 (usage, or
 * a step that resolve cannot settle), 75 (resolve: the run is running). */
int tr_runs_main(int argc, char **argv, const char *state_dir);

#endif
