/* The HTTP front: MHD in epoll mode with a thread pool, request bodies, suspend/resume. */
#ifndef SIM_SERVER_H
#define SIM_SERVER_H

/* Starts serving on host:port (0 picks a free port) with threads workers; 0 on success. */
int sim_server_start(const char *host, unsigned port, unsigned threads);
/* The port actually bound. */
unsigned sim_server_port(void);
/* Stops accepting, closes every connection and waits for the workers. */
void sim_server_stop(void);

/* Request counters for /_sim/stats. */
void sim_stats_get(unsigned long *total, unsigned *inflight, unsigned *max_inflight);
void sim_stats_reset(void);

#endif
