/* Building replies: status, headers and body, in the shapes handlers need. */
#ifndef SIM_REPLY_H
#define SIM_REPLY_H

#include "request.h"

/* Sets the body to a copy of len bytes of data. */
void sim_reply_bytes(sim_request *rq, int status, const char *ctype, const char *data,
                     size_t len);
/* Sets the body to a NUL-terminated text. */
void sim_reply_text(sim_request *rq, int status, const char *ctype, const char *text);
/* Serialises json (the reference is stolen) as the body. */
void sim_reply_json(sim_request *rq, int status, const char *ctype, json_t *json);
/* Adds a response header (copied); extra headers past the limit are ignored. */
void sim_reply_header(sim_request *rq, const char *name, const char *value);
/* Forgets any reply set so far. */
void sim_reply_clear(sim_reply *r);

/* Header lookup on the request, case-insensitive; NULL when absent. */
const char *sim_request_header(sim_request *rq, const char *name);
/* All request headers as an object of lower-case name to value. */
json_t *sim_request_headers(sim_request *rq);
/* Parses the request body as JSON; NULL when absent or malformed. */
json_t *sim_request_json(sim_request *rq);

#endif
