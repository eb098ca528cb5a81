/* One HTTP request as the simulator sees it, and the reply it builds for it. */
#ifndef SIM_REQUEST_H
#define SIM_REQUEST_H

#include <stddef.h>
#include <microhttpd.h>
#include <jansson.h>

#define SIM_MAX_REPLY_HEADERS 16

typedef enum { SIM_SEND, SIM_DROP, SIM_STALL } sim_action;

typedef struct sim_header {
  char *name;
  char *value;
} sim_header;

typedef struct sim_reply {
  int status;             /* 0 until a handler answers */
  char *body;             /* malloc'd; handed to MHD on send */
  size_t body_len;
  const char *content_type;
  int n_headers;
  sim_header headers[SIM_MAX_REPLY_HEADERS];
  sim_action action;
  unsigned delay_ms;      /* suspend this long before answering */
  const char *fault;      /* name of the fault that shaped the reply, for the log */
} sim_reply;

typedef struct sim_request {
  struct MHD_Connection *conn;
  char *uri;              /* raw request target, as received */
  const char *query;      /* raw query string inside uri, "" when none */
  char *method;
  char *path;             /* percent-decoded by MHD */
  char *body;
  size_t body_len;
  size_t body_cap;
  int body_too_large;
  int started;            /* the access handler has seen the headers */
  int dispatched;
  int suspended;          /* parked by us, waiting for the timer */
  unsigned inflight_at_arrival;
  size_t stall_sent;
  sim_reply reply;
} sim_request;

#endif
