/* Settings every part reads: tokens, account IDs, task pacing, body shapes. The defaults are
 * the values `taskrun --sim` puts in a runbook's environment. */
#ifndef SIM_CONFIG_H
#define SIM_CONFIG_H

#include <jansson.h>

/* The public client ID BlueXP documents for its refresh-token grant. */
#define SIM_BLUEXP_PUBLIC_CLIENT "Mu0V1ywgYteI6w1MbD15fKfVIUrNXGWC"

typedef enum {
  SIM_REDPANDA,
  SIM_KEYCARD,
  SIM_ASTRA,
  SIM_BLUEXP,
  SIM_PROVIDERS
} sim_provider;

typedef struct sim_config {
  char *token[SIM_PROVIDERS];         /* the static bearer token each API accepts */
  /* What the token endpoints check: client credentials (Redpanda, Keycard), the refresh
   * token and its public client ID (BlueXP). "" where a provider has no such thing. */
  char *client_id[SIM_PROVIDERS];
  char *client_secret[SIM_PROVIDERS];
  char *refresh_token;
  double token_ttl_ms[SIM_PROVIDERS]; /* lifetime of the tokens the endpoints issue */
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
/* Parses a duration: "500ms", "2s", "1.5m", "1h", or a bare number of seconds; 0 on
 * success with *ms set, -1 on anything else or a value below 1 ms. */
int sim_parse_duration(const char *text, double *ms);
/* The settings as JSON, tokens and secrets left out. */
json_t *sim_config_json(void);

/* "redpanda", "keycard", "astra" or "bluexp". */
const char *sim_provider_name(sim_provider p);
/* -1 when name is not a provider. */
int sim_provider_by_name(const char *name);

#endif
