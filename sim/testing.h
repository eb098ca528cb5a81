/* Generic endpoints for the runtime's HTTP specs: echo, delay, stats, status, bytes, drop,
 * stall, redirect. Vendor-neutral on purpose. */
#ifndef SIM_TESTING_H
#define SIM_TESTING_H

#include "request.h"

/* Answers rq if its path is one of the test endpoints; returns 1 when it did. */
int sim_testing_handle(sim_request *rq);

#endif
