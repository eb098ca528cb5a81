/* The admin API under /_sim/: tasks, faults, the request log, settings, reset. */
#ifndef SIM_ADMIN_H
#define SIM_ADMIN_H

#include "request.h"

/* Answers rq if it is an admin call; returns 1 when it did. */
int sim_admin_handle(sim_request *rq);
/* Creates the tasks in spec (an object or an array of them); returns the admin views, or
 * NULL with a message in err. Shared with the scenario loader. */
json_t *sim_admin_create_tasks(json_t *spec, char *err, size_t errsize);
/* Adds the faults in spec (an object or an array); returns their ids, or NULL with err. */
json_t *sim_admin_add_faults(json_t *spec, char *err, size_t errsize);

#endif
