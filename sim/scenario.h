/* Scenario files: settings, tasks and faults to start with, reloaded by POST /_sim/reset. */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include <stddef.h>

/* Loads path and remembers it for reloads; 0 on success, else -1 with a message in err. */
int sim_scenario_load(const char *path, char *err, size_t errsize);
/* Loads the remembered scenario again, if any. */
int sim_scenario_reload(char *err, size_t errsize);
void sim_scenario_free(void);

#endif
