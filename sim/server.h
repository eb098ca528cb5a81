/* The HTTP front: MHD in epoll mode with a thread pool, request bodies, suspend/resume. */
#ifndef SIM_SERVER_H
#define SIM_SERVER_H

/* Starts serving on host:port (0 picks a free port) with threads workers; 0 on success. */
int sim_server_start(const char *host, unsigned port, unsigned threads);
/* The port actually bound. */
unsigned sim_server_port(void);
/* Stops accepting, closes every connection and waits for the workers. */
void sim_server_stop(void);

/* Request and connection counters for /_sim/stats. */
typedef struct {
  unsigned long requests;       /* since the last reset */
  unsigned inflight, max_inflight;
  unsigned long connections;    /* accepted since the last reset */
  unsigned open_connections, max_open_connections;
} sim_stats;

void sim_stats_get(sim_stats *st);
/* Zeroes the totals and the request peak; the connection peak starts from those open now. */
void sim_stats_reset(void);

#endif
