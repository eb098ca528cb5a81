/* The request log: what each client actually sent, tokens redacted, kept in memory for
 * GET /_sim/requests and optionally appended to a file as JSON lines. */
#ifndef SIM_REQLOG_H
#define SIM_REQLOG_H

#include "request.h"

/* Appends every later entry to path; 0 on success. */
int sim_reqlog_open(const char *path);
/* Empties the memory log and closes the file. */
void sim_reqlog_close(void);
/* Records rq with the reply it got; provider may be NULL. */
void sim_reqlog_record(sim_request *rq, const char *provider);
/* The entries kept in memory, oldest first, filtered by any non-NULL argument. */
json_t *sim_reqlog_entries(const char *provider, const char *method, const char *path);
/* Empties the memory log (the file keeps what it has). */
void sim_reqlog_clear(void);

#endif
