/* Settings are plain fields behind one lock: they change only through the admin API. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

sim_config sim_cfg;
static sim_config startup;
static void free_fields(sim_config *c);
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[SIM_PROVIDERS] = { "redpanda", "keycard", "astra", "bluexp" };

void sim_config_lock(void) { pthread_mutex_lock(&lock); }
void sim_config_unlock(void) { pthread_mutex_unlock(&lock); }

static void set_string(char **field, const char *value)
{
  free(*field);
  *field = strdup(value);
}

void sim_config_defaults(void)
{
  static const char *tokens[SIM_PROVIDERS] = {
    "sim-redpanda-token", "sim-keycard-token", "sim-astra-token", "sim-bluexp-token"
  };
  /* Astra API tokens are made in its UI and never expire: it has no token endpoint. */
  static const char *ids[SIM_PROVIDERS] = {
    "sim-redpanda-client", "sim-keycard-client", "", SIM_BLUEXP_PUBLIC_CLIENT
  };
  static const char *secrets[SIM_PROVIDERS] = {
    "sim-redpanda-secret", "sim-keycard-secret", "", ""
  };
  static const double ttl_ms[SIM_PROVIDERS] = { 3600e3, 3600e3, 0, 86400e3 };
  free_fields(&sim_cfg);
  for (int i = 0; i < SIM_PROVIDERS; i++) {
    set_string(&sim_cfg.token[i], tokens[i]);
    set_string(&sim_cfg.client_id[i], ids[i]);
    set_string(&sim_cfg.client_secret[i], secrets[i]);
    sim_cfg.token_ttl_ms[i] = ttl_ms[i];
  }
  set_string(&sim_cfg.refresh_token, "sim-bluexp-refresh");
  set_string(&sim_cfg.astra_account, "8c7f3a52-5b1e-4c1d-9a0e-6f2d1b3c4a5e");
  set_string(&sim_cfg.bluexp_account, "account-sim00001");
  set_string(&sim_cfg.bluexp_agent, "simAgent0001clients");
  sim_cfg.speed = 1.0;
  sim_cfg.step_ms = 500.0;
}

static void free_fields(sim_config *c)
{
  for (int i = 0; i < SIM_PROVIDERS; i++) {
    free(c->token[i]);
    free(c->client_id[i]);
    free(c->client_secret[i]);
  }
  free(c->refresh_token);
  free(c->astra_account);
  free(c->bluexp_account);
  free(c->bluexp_agent);
  memset(c, 0, sizeof *c);
}

static void copy_config(sim_config *to, const sim_config *from)
{
  free_fields(to);
  *to = *from;
  for (int i = 0; i < SIM_PROVIDERS; i++) {
    to->token[i] = strdup(from->token[i]);
    to->client_id[i] = strdup(from->client_id[i]);
    to->client_secret[i] = strdup(from->client_secret[i]);
  }
  to->refresh_token = strdup(from->refresh_token);
  to->astra_account = strdup(from->astra_account);
  to->bluexp_account = strdup(from->bluexp_account);
  to->bluexp_agent = strdup(from->bluexp_agent);
}

void sim_config_free(void)
{
  free_fields(&sim_cfg);
  free_fields(&startup);
}

void sim_config_snapshot(void)
{
  sim_config_lock();
  copy_config(&startup, &sim_cfg);
  sim_config_unlock();
}

void sim_config_restore(void)
{
  sim_config_lock();
  if (startup.token[0]) copy_config(&sim_cfg, &startup);
  sim_config_unlock();
}

const char *sim_provider_name(sim_provider p)
{
  return (p >= 0 && p < SIM_PROVIDERS) ? names[p] : "none";
}

int sim_provider_by_name(const char *name)
{
  for (int i = 0; name && i < SIM_PROVIDERS; i++) {
    if (strcmp(name, names[i]) == 0) return i;
  }
  return -1;
}

static int apply_choice(json_t *obj, const char *key, const char *a, const char *b, int *out,
                        char *err, size_t errsize)
{
  json_t *v = json_object_get(obj, key);
  if (!v) return 0;
  const char *s = json_string_value(v);
  if (s && strcmp(s, a) == 0) *out = 0;
  else if (s && strcmp(s, b) == 0) *out = 1;
  else {
    snprintf(err, errsize, "%s must be \"%s\" or \"%s\"", key, a, b);
    return -1;
  }
  return 0;
}

static int apply_number(json_t *obj, const char *key, double min, double *out, char *err,
                        size_t errsize)
{
  json_t *v = json_object_get(obj, key);
  if (!v) return 0;
  if (!json_is_number(v) || json_number_value(v) < min) {
    snprintf(err, errsize, "%s must be a number >= %g", key, min);
    return -1;
  }
  *out = json_number_value(v);
  return 0;
}

static int apply_strings(json_t *obj, char *err, size_t errsize)
{
  static const char *keys[] = { "astra_account", "bluexp_account", "bluexp_agent" };
  char **fields[] = { &sim_cfg.astra_account, &sim_cfg.bluexp_account, &sim_cfg.bluexp_agent };
  for (int i = 0; i < 3; i++) {
    json_t *v = json_object_get(obj, keys[i]);
    if (!v) continue;
    if (!json_string_value(v) || !*json_string_value(v)) {
      snprintf(err, errsize, "%s must be a non-empty string", keys[i]);
      return -1;
    }
    set_string(fields[i], json_string_value(v));
  }
  json_t *tokens = json_object_get(obj, "tokens");
  if (!tokens) return 0;
  if (!json_is_object(tokens)) {
    snprintf(err, errsize, "tokens must be an object of provider to token");
    return -1;
  }
  const char *name;
  json_t *v;
  json_object_foreach(tokens, name, v) {
    int p = sim_provider_by_name(name);
    if (p < 0 || !json_string_value(v)) {
      snprintf(err, errsize, "tokens: unknown provider or non-string token: %s", name);
      return -1;
    }
    set_string(&sim_cfg.token[p], json_string_value(v));
  }
  return 0;
}

int sim_parse_duration(const char *text, double *ms)
{
  static const struct { const char *unit; double ms; } units[] = {
    { "ms", 1 }, { "s", 1e3 }, { "m", 60e3 }, { "h", 3600e3 }, { "", 1e3 }
  };
  char *end;
  if (!text || !*text) return -1;
  double v = strtod(text, &end);
  if (end == text) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit) != 0) continue;
    *ms = v * units[i].ms;
    return *ms >= 1 && *ms <= 1e12 ? 0 : -1;
  }
  return -1;
}

/* A duration given as a string ("2s") or a number of seconds. */
static int json_duration(json_t *v, double *ms)
{
  if (json_is_number(v)) {
    *ms = json_number_value(v) * 1e3;
    return *ms >= 1 && *ms <= 1e12 ? 0 : -1;
  }
  return sim_parse_duration(json_string_value(v), ms);
}

/* token_ttl: one duration for every token endpoint, or {"redpanda": "2s", ...}. */
static int apply_ttl(json_t *obj, char *err, size_t errsize)
{
  json_t *v = json_object_get(obj, "token_ttl");
  double ms;
  if (!v) return 0;
  if (!json_is_object(v)) {
    if (json_duration(v, &ms) != 0) goto bad;
    for (int i = 0; i < SIM_PROVIDERS; i++) sim_cfg.token_ttl_ms[i] = ms;
    return 0;
  }
  const char *name;
  json_t *one;
  json_object_foreach(v, name, one) {
    int p = sim_provider_by_name(name);
    if (p < 0 || p == SIM_ASTRA || json_duration(one, &ms) != 0) goto bad;
    sim_cfg.token_ttl_ms[p] = ms;
  }
  return 0;
bad:
  snprintf(err, errsize, "token_ttl must be a duration (\"2s\", \"500ms\", \"1h\" or seconds "
           "as a number) or an object of redpanda, keycard, bluexp to durations");
  return -1;
}

/* credentials: {"redpanda": {"client_id", "client_secret"}, "keycard": {...},
 * "bluexp": {"refresh_token", "client_id"}}; each field optional. */
static int apply_credentials(json_t *obj, char *err, size_t errsize)
{
  json_t *creds = json_object_get(obj, "credentials");
  const char *name, *key;
  json_t *one, *v;
  if (!creds) return 0;
  if (!json_is_object(creds)) goto bad;
  json_object_foreach(creds, name, one) {
    int p = sim_provider_by_name(name);
    if (p < 0 || p == SIM_ASTRA || !json_is_object(one)) goto bad;
    json_object_foreach(one, key, v) {
      const char *s = json_string_value(v);
      if (!s || !*s) goto bad;
      if (strcmp(key, "client_id") == 0) set_string(&sim_cfg.client_id[p], s);
      else if (strcmp(key, "client_secret") == 0 && p != SIM_BLUEXP) {
        set_string(&sim_cfg.client_secret[p], s);
      } else if (strcmp(key, "refresh_token") == 0 && p == SIM_BLUEXP) {
        set_string(&sim_cfg.refresh_token, s);
      } else goto bad;
    }
  }
  return 0;
bad:
  snprintf(err, errsize, "credentials must be {\"redpanda\"|\"keycard\": {\"client_id\", "
           "\"client_secret\"}, \"bluexp\": {\"refresh_token\", \"client_id\"}} with "
           "non-empty strings");
  return -1;
}

int sim_config_apply(json_t *obj, char *err, size_t errsize)
{
  sim_config_lock();
  int rc = 0, mode = sim_cfg.poll_mode;
  json_t *m = json_object_get(obj, "mode");
  if (m) {
    const char *s = json_string_value(m);
    if (s && strcmp(s, "time") == 0) mode = 0;
    else if (s && strcmp(s, "poll") == 0) mode = 1;
    else {
      snprintf(err, errsize, "mode must be \"time\" or \"poll\"");
      rc = -1;
    }
  }
  if (rc == 0) sim_cfg.poll_mode = mode;
  if (rc == 0) rc = apply_number(obj, "speed", 0.001, &sim_cfg.speed, err, errsize);
  if (rc == 0) rc = apply_number(obj, "step_ms", 0, &sim_cfg.step_ms, err, errsize);
  if (rc == 0) {
    rc = apply_choice(obj, "redpanda_body", "wrapped", "bare", &sim_cfg.redpanda_bare, err,
                      errsize);
  }
  if (rc == 0) {
    rc = apply_choice(obj, "bluexp_job", "array", "object", &sim_cfg.bluexp_job_object, err,
                      errsize);
  }
  if (rc == 0) rc = apply_strings(obj, err, errsize);
  if (rc == 0) rc = apply_ttl(obj, err, errsize);
  if (rc == 0) rc = apply_credentials(obj, err, errsize);
  sim_config_unlock();
  return rc;
}

json_t *sim_config_json(void)
{
  sim_config_lock();
  json_t *obj = json_pack("{s:f,s:f,s:s,s:s,s:s,s:s,s:s,s:s}",
                          "speed", sim_cfg.speed, "step_ms", sim_cfg.step_ms,
                          "mode", sim_cfg.poll_mode ? "poll" : "time",
                          "redpanda_body", sim_cfg.redpanda_bare ? "bare" : "wrapped",
                          "bluexp_job", sim_cfg.bluexp_job_object ? "object" : "array",
                          "astra_account", sim_cfg.astra_account,
                          "bluexp_account", sim_cfg.bluexp_account,
                          "bluexp_agent", sim_cfg.bluexp_agent);
  /* Client IDs are not secret; client secrets and refresh tokens are never shown. */
  json_t *ids = json_object(), *ttl = json_object();
  for (int i = 0; i < SIM_PROVIDERS; i++) {
    if (i == SIM_ASTRA) continue;
    json_object_set_new(ids, names[i], json_pack("{s:s}", "client_id", sim_cfg.client_id[i]));
    json_object_set_new(ttl, names[i], json_integer((json_int_t)sim_cfg.token_ttl_ms[i]));
  }
  sim_config_unlock();
  json_object_set_new(obj, "credentials", ids);
  json_object_set_new(obj, "token_ttl_ms", ttl);
  return obj;
}
