/* Sends each complete request to the part of the simulator that owns its path. */
#ifndef SIM_ROUTER_H
#define SIM_ROUTER_H

#include "request.h"

/* Fills rq->reply for a request whose body has fully arrived. */
void sim_dispatch(sim_request *rq);

#endif
