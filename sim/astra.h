/* Parts of the Astra module shared between its files. */
#ifndef SIM_ASTRA_H
#define SIM_ASTRA_H

#include "request.h"
#include "store.h"

/* Answers a problem+json error; number 0 gives type about:blank. invalid may be NULL. */
void sim_astra_problem(sim_request *rq, int status, int number, const char *title,
                       const char *detail, json_t *invalid);
/* Answers 400 for a bad query parameter: number 5 (invalid) or 6 (not supported). */
void sim_astra_bad_param(sim_request *rq, int number, const char *name, const char *reason);
/* The task's JSON at step (store lock held). */
json_t *sim_astra_render(sim_task *t, json_t *step);
/* GET /accounts/{a}/core/v1/tasks with include, limit, filter and continue. */
void sim_astra_list(sim_request *rq);
/* Answers a collection of type whose resources are objects (reference taken), in that order,
 * with the task list's include, limit, filter and continue. */
void sim_astra_list_objects(sim_request *rq, const char *type, json_t *objects);

#endif
