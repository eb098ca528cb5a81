/* Helpers the four provider modules share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "reply.h"
#include "store.h"
#include "tokens.h"
#include "util.h"
#include "vendor.h"

sim_auth sim_check_bearer(sim_request *rq, sim_provider p)
{
  const char *h = sim_request_header(rq, "Authorization");
  if (!h || !*h) return SIM_AUTH_MISSING;
  if (strncasecmp(h, "Bearer ", 7) != 0) return SIM_AUTH_WRONG;
  h += 7;
  while (*h == ' ') h++;
  sim_config_lock();
  int same = strcmp(h, sim_cfg.token[p]) == 0;
  sim_config_unlock();
  if (same) return SIM_AUTH_OK;
  switch (sim_tokens_check(p, h)) {
  case SIM_TOKEN_LIVE: return SIM_AUTH_OK;
  case SIM_TOKEN_EXPIRED: return SIM_AUTH_EXPIRED;
  default: return SIM_AUTH_WRONG;
  }
}

int sim_split_path(const char *path, char **segs, int max)
{
  int n = 0;
  const char *p = path;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (n == max) {
      sim_segments_free(segs, n);
      return -1;        /* deeper than any route: the caller answers 404 */
    }
    segs[n++] = strndup(p, len);
    p += len;
  }
  return n;
}

void sim_segments_free(char **segs, int n)
{
  for (int i = 0; i < n; i++) free(segs[i]);
}

int sim_method_allowed(sim_request *rq, const char *allowed)
{
  size_t n = strlen(rq->method);
  for (const char *p = allowed; (p = strstr(p, rq->method)) != NULL; p += n) {
    if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
  }
  char joined[96];
  size_t k = 0;
  for (const char *c = allowed; *c && k + 3 < sizeof joined; c++) {
    if (*c == ' ') joined[k++] = ',';
    joined[k++] = *c;
  }
  joined[k] = '\0';
  sim_reply_header(rq, "Allow", joined);
  return 0;
}

void sim_now_rfc3339(char *out, size_t size)
{
  sim_rfc3339(sim_epoch_ms(), out, size);
}

static int spec_shape(json_t *spec, int *shape, char *err, size_t errsize)
{
  json_t *v = json_object_get(spec, "shape");
  const char *s = json_string_value(v);
  if (!v) return 0;
  if (s && (strcmp(s, "wrapped") == 0 || strcmp(s, "array") == 0)) *shape = 0;
  else if (s && (strcmp(s, "bare") == 0 || strcmp(s, "object") == 0)) *shape = 1;
  else {
    snprintf(err, errsize, "shape must be \"wrapped\", \"bare\", \"array\" or \"object\"");
    return -1;
  }
  return 0;
}

static int spec_mode(json_t *spec, int *poll_mode, double *step_ms, char *err, size_t errsize)
{
  const char *mode = json_string_value(json_object_get(spec, "mode"));
  json_t *ms = json_object_get(spec, "step_ms");
  if (json_object_get(spec, "mode")) {
    if (mode && strcmp(mode, "poll") == 0) *poll_mode = 1;
    else if (mode && strcmp(mode, "time") == 0) *poll_mode = 0;
    else {
      snprintf(err, errsize, "mode must be \"poll\" or \"time\"");
      return -1;
    }
  }
  if (ms) {
    if (!json_is_number(ms) || json_number_value(ms) < 0) {
      snprintf(err, errsize, "step_ms must be a number >= 0");
      return -1;
    }
    *step_ms = json_number_value(ms);
  }
  return 0;
}

sim_task *sim_task_from_spec(sim_provider p, json_t *spec, const char *scope, const char *id,
                             json_t *fields, json_t *default_steps, char *err, size_t errsize)
{
  json_t *steps = json_object_get(spec, "steps");
  if (steps) json_decref(default_steps);
  json_t *extra = json_object_get(spec, "fields");
  int shape = -1, poll_mode = -1;
  double step_ms = -1;
  if (extra && !json_is_object(extra)) snprintf(err, errsize, "fields must be an object");
  if ((extra && !json_is_object(extra)) || spec_shape(spec, &shape, err, errsize) != 0 ||
      spec_mode(spec, &poll_mode, &step_ms, err, errsize) != 0) {
    json_decref(fields);
    if (!steps) json_decref(default_steps);
    return NULL;
  }
  steps = steps ? sim_steps_normalise(steps, err, errsize) : default_steps;
  if (!steps) {
    json_decref(fields);
    return NULL;
  }
  if (extra) json_object_update(fields, extra);
  sim_task *t = sim_store_add(p, SIM_KIND_TASK, scope, id, fields, steps);
  if (!t) {
    snprintf(err, errsize, "out of memory");
    return NULL;
  }
  t->shape = shape;
  t->step_ms = step_ms;
  if (poll_mode >= 0) t->poll_mode = poll_mode;
  return t;
}

void sim_step_apply(json_t *obj, json_t *step, const char *key)
{
  const char *name;
  json_t *value;
  json_object_set(obj, key, json_object_get(step, "state"));
  json_object_foreach(step, name, value) {
    if (strcmp(name, "state") != 0 && strcmp(name, "ms") != 0) json_object_set(obj, name, value);
  }
}

const char *sim_step_state(json_t *step)
{
  const char *s = json_string_value(json_object_get(step, "state"));
  return s ? s : "";
}
