/* Settings every part reads: tokens, account IDs, task pacing, body shapes. The defaults are
 * the values `taskrun --sim` puts in a runbook's environment. */
#ifndef SIM_CONFIG_H
#define SIM_CONFIG_H

#include <jansson.h>

typedef enum {
  SIM_REDPANDA,
  SIM_KEYCARD,
  SIM_ASTRA,
  SIM_BLUEXP,
  SIM_PROVIDERS
} sim_provider;

typedef struct sim_config {
  char *token[SIM_PROVIDERS];
  char *astra_account;
  char *bluexp_account;
  char *bluexp_agent;
  double speed;           /* time-based progression runs this many times faster */
  double step_ms;         /* how long a task stays in each state at speed 1 */
  int poll_mode;          /* new tasks advance one state per read instead of over time */
  int redpanda_bare;      /* GET answers the bare task instead of {"task":{...}} */
  int bluexp_job_object;  /* GET job/{id} answers "job" as an object, not an array */
} sim_config;

/* The one configuration; read it under sim_config_lock when it may change. */
extern sim_config sim_cfg;

/* Sets every field to the documented defaults. */
void sim_config_defaults(void);
/* Frees the strings of the configuration and of its snapshot. */
void sim_config_free(void);
/* Remembers the settings as they are now (after flags), for sim_config_restore on reset. */
void sim_config_snapshot(void);
void sim_config_restore(void);
/* Guards sim_cfg; never held while taking the store lock. */
void sim_config_lock(void);
void sim_config_unlock(void);

/* Applies the settings found in obj (scenario or POST /_sim/config); on error returns -1 and
 * writes a message to err. */
int sim_config_apply(json_t *obj, char *err, size_t errsize);
/* The settings as JSON, tokens left out. */
json_t *sim_config_json(void);

/* "redpanda", "keycard", "astra" or "bluexp". */
const char *sim_provider_name(sim_provider p);
/* -1 when name is not a provider. */
int sim_provider_by_name(const char *name);

#endif
