/* What every provider module offers the router, and helpers they share. */
#ifndef SIM_VENDOR_H
#define SIM_VENDOR_H

#include "config.h"
#include "request.h"

typedef struct sim_vendor {
  sim_provider provider;
  const char *label;      /* the provider name faults and the log see; NULL: the provider's */
  const char *prefix;     /* the paths it owns start with this */
  /* Answers a request under prefix, authentication included. */
  void (*handle)(sim_request *rq);
  /* Answers with the vendor's own error envelope for status. */
  void (*error)(sim_request *rq, int status, const char *message);
  /* Creates a task from an admin or scenario spec; returns its admin view, or NULL with a
   * message in err. */
  json_t *(*create)(json_t *spec, char *err, size_t errsize);
} sim_vendor;

extern const sim_vendor sim_redpanda;
extern const sim_vendor sim_keycard;
extern const sim_vendor sim_astra;
extern const sim_vendor sim_bluexp;
/* The token endpoints (oauth.c): labelled "<provider>-auth" for faults and the log, so a
 * fault aimed at a provider's API never hits its token requests. */
extern const sim_vendor sim_redpanda_auth;
extern const sim_vendor sim_keycard_auth;
extern const sim_vendor sim_bluexp_auth;

typedef enum { SIM_AUTH_OK, SIM_AUTH_MISSING, SIM_AUTH_WRONG, SIM_AUTH_EXPIRED } sim_auth;

/* Checks the bearer token: the provider's configured static token, or a token its token
 * endpoint issued that has not expired nor been revoked. */
sim_auth sim_check_bearer(sim_request *rq, sim_provider p);
/* Splits a path into at most max segments (copies, freed with sim_segments_free); -1 when
 * there are more. */
int sim_split_path(const char *path, char **segs, int max);
/* Frees what sim_split_path returned (n may be -1). */
void sim_segments_free(char **segs, int n);
/* 1 if the method is one of a space-separated list; otherwise sets an Allow header and
 * returns 0, so the caller answers 405. */
int sim_method_allowed(sim_request *rq, const char *allowed);
/* Adds a task built from spec to the store (lock held): steps, mode, step_ms and shape come
 * from spec, "fields" is merged over fields. References to fields and default_steps are
 * taken. NULL with err on bad input. */
struct sim_task *sim_task_from_spec(sim_provider p, json_t *spec, const char *scope,
                                    const char *id, json_t *fields, json_t *default_steps,
                                    char *err, size_t errsize);
/* Sets key to the step's state in obj and copies the step's other fields (but "ms"). */
void sim_step_apply(json_t *obj, json_t *step, const char *key);
/* The state name of a step. */
const char *sim_step_state(json_t *step);

/* The current time as RFC 3339 into out. */
void sim_now_rfc3339(char *out, size_t size);

#endif
