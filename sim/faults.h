/* Faults: rules that make the next matching requests slow, refused, broken or cut off. */
#ifndef SIM_FAULTS_H
#define SIM_FAULTS_H

#include <jansson.h>

typedef enum {
  SIM_FAULT_LATENCY,
  SIM_FAULT_RATE_LIMIT,
  SIM_FAULT_SERVER_ERROR,
  SIM_FAULT_MALFORMED_JSON,
  SIM_FAULT_DROP,
  SIM_FAULT_STALL,
  SIM_FAULT_EXPIRED_TOKEN,
  SIM_FAULT_BODY,
  SIM_FAULT_KINDS
} sim_fault_kind;

/* What a request drew: extra latency, and at most one fault that shapes its reply. */
typedef struct sim_fault_pick {
  unsigned latency_ms;
  int has_fault;
  sim_fault_kind kind;
  int status;             /* 429 / 5xx, or 0 for the kind's default */
  long retry_after;       /* seconds */
  int retry_after_date;   /* send Retry-After as an HTTP-date */
  char *body;             /* SIM_FAULT_BODY: the raw body to answer (malloc'd: the caller
                           * frees it with sim_fault_pick_free) */
} sim_fault_pick;

/* Adds the fault described by spec; returns its id, or -1 with a message in err. */
int sim_faults_add(json_t *spec, char *err, size_t errsize);
/* The rules still active, with how often each has fired. */
json_t *sim_faults_list(void);
/* Drops every rule. */
void sim_faults_clear(void);
/* Draws the faults for one request, counting them as used. provider may be NULL. */
void sim_faults_pick(const char *provider, const char *method, const char *path,
                     sim_fault_pick *out);
/* Frees what a pick holds. */
void sim_fault_pick_free(sim_fault_pick *pick);
/* The kind's name as rules spell it ("rate_limit"). */
const char *sim_fault_name(sim_fault_kind kind);

#endif
