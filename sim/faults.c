/* Rules are matched in the order they were added. Latency rules add up; the first other rule
 * that matches decides the reply, so "the next 2 GETs get 503" means exactly that. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "faults.h"
#include "util.h"

typedef struct sim_fault {
  int id;
  sim_fault_kind kind;
  char *provider;         /* NULL: any */
  char *method;           /* NULL: any */
  char *path;             /* NULL: any; a trailing '*' matches a prefix */
  long count;             /* replies left to shape; < 0: no limit */
  long skip;              /* matching requests to let through first */
  double probability;
  unsigned ms;
  int status;
  long retry_after;
  int retry_after_date;
  char *body;             /* kind body: the raw answer */
  long fired;
  struct sim_fault *next;
} sim_fault;

static const char *kind_names[SIM_FAULT_KINDS] = {
  "latency", "rate_limit", "server_error", "malformed_json", "drop", "stall", "expired_token",
  "body"
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sim_fault *rules;
static int next_id;

const char *sim_fault_name(sim_fault_kind kind)
{
  return (kind >= 0 && kind < SIM_FAULT_KINDS) ? kind_names[kind] : "none";
}

static void free_fault(sim_fault *f)
{
  free(f->provider);
  free(f->method);
  free(f->path);
  free(f->body);
  free(f);
}

void sim_faults_clear(void)
{
  pthread_mutex_lock(&lock);
  while (rules) {
    sim_fault *next = rules->next;
    free_fault(rules);
    rules = next;
  }
  pthread_mutex_unlock(&lock);
}

static int opt_string(json_t *spec, const char *key, char **out, char *err, size_t errsize)
{
  json_t *v = json_object_get(spec, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) {
    snprintf(err, errsize, "%s must be a string", key);
    return -1;
  }
  const char *s = json_string_value(v);
  if (strcmp(s, "any") == 0 || strcmp(s, "*") == 0) return 0;
  *out = strdup(s);
  return 0;
}

static int opt_long(json_t *spec, const char *key, long min, long max, long *out, char *err,
                    size_t errsize)
{
  json_t *v = json_object_get(spec, key);
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
    snprintf(err, errsize, "%s must be an integer in %ld..%ld", key, min, max);
    return -1;
  }
  *out = (long)json_integer_value(v);
  return 0;
}

static int parse_kind(json_t *spec, sim_fault *f, char *err, size_t errsize)
{
  const char *kind = json_string_value(json_object_get(spec, "kind"));
  for (int k = 0; kind && k < SIM_FAULT_KINDS; k++) {
    if (strcmp(kind, kind_names[k]) == 0) {
      f->kind = (sim_fault_kind)k;
      return 0;
    }
  }
  snprintf(err, errsize, "kind must be one of latency, rate_limit, server_error, "
           "malformed_json, drop, stall, expired_token, body");
  return -1;
}

static int parse_fault(json_t *spec, sim_fault *f, char *err, size_t errsize)
{
  long ms = 0, status = 0;
  if (!json_is_object(spec)) {
    snprintf(err, errsize, "a fault must be an object");
    return -1;
  }
  if (parse_kind(spec, f, err, errsize) != 0) return -1;
  if (opt_string(spec, "provider", &f->provider, err, errsize) != 0 ||
      opt_string(spec, "method", &f->method, err, errsize) != 0 ||
      opt_string(spec, "path", &f->path, err, errsize) != 0 ||
      opt_long(spec, "count", -1, 1000000000L, &f->count, err, errsize) != 0 ||
      opt_long(spec, "skip", 0, 1000000000L, &f->skip, err, errsize) != 0 ||
      opt_long(spec, "ms", 0, 600000, &ms, err, errsize) != 0 ||
      opt_long(spec, "status", 200, 599, &status, err, errsize) != 0 ||
      opt_long(spec, "retry_after", 0, 86400 * 365L, &f->retry_after, err, errsize) != 0) {
    return -1;
  }
  f->ms = (unsigned)ms;
  f->status = (int)status;
  json_t *p = json_object_get(spec, "probability");
  if (p && (!json_is_number(p) || json_number_value(p) < 0 || json_number_value(p) > 1)) {
    snprintf(err, errsize, "probability must be a number in 0..1");
    return -1;
  }
  if (p) f->probability = json_number_value(p);
  const char *fmt = json_string_value(json_object_get(spec, "retry_after_format"));
  if (fmt && strcmp(fmt, "http-date") != 0 && strcmp(fmt, "seconds") != 0) {
    snprintf(err, errsize, "retry_after_format must be \"seconds\" or \"http-date\"");
    return -1;
  }
  f->retry_after_date = fmt && strcmp(fmt, "http-date") == 0;
  /* Any bytes at all, for clients that must survive bodies no vendor sends. */
  json_t *body = json_object_get(spec, "body");
  if (f->kind == SIM_FAULT_BODY) {
    if (!json_is_string(body)) {
      snprintf(err, errsize, "a body fault needs body, a string");
      return -1;
    }
    f->body = strdup(json_string_value(body));
  }
  return 0;
}

int sim_faults_add(json_t *spec, char *err, size_t errsize)
{
  sim_fault *f = calloc(1, sizeof *f);
  if (!f) return -1;
  f->count = 1;
  f->probability = 1.0;
  f->retry_after = 1;
  if (parse_fault(spec, f, err, errsize) != 0) {
    free_fault(f);
    return -1;
  }
  if (f->count == 0) f->count = -1;
  pthread_mutex_lock(&lock);
  f->id = ++next_id;
  sim_fault **link = &rules;
  while (*link) link = &(*link)->next;
  *link = f;
  pthread_mutex_unlock(&lock);
  return f->id;
}

json_t *sim_faults_list(void)
{
  json_t *out = json_array();
  pthread_mutex_lock(&lock);
  for (sim_fault *f = rules; f; f = f->next) {
    json_t *obj = json_pack("{s:i,s:s,s:I,s:I,s:I}", "id", f->id, "kind", kind_names[f->kind],
                            "count", (json_int_t)f->count, "skip", (json_int_t)f->skip,
                            "fired", (json_int_t)f->fired);
    if (f->provider) json_object_set_new(obj, "provider", json_string(f->provider));
    if (f->method) json_object_set_new(obj, "method", json_string(f->method));
    if (f->path) json_object_set_new(obj, "path", json_string(f->path));
    json_array_append_new(out, obj);
  }
  pthread_mutex_unlock(&lock);
  return out;
}

static int path_matches(const char *pattern, const char *path)
{
  size_t n = strlen(pattern);
  if (n > 0 && pattern[n - 1] == '*') return strncmp(pattern, path, n - 1) == 0;
  return strcmp(pattern, path) == 0;
}

static int rule_matches(sim_fault *f, const char *provider, const char *method,
                        const char *path)
{
  if (f->provider && (!provider || strcmp(f->provider, provider) != 0)) return 0;
  if (f->method && strcasecmp(f->method, method) != 0) return 0;
  if (f->path && !path_matches(f->path, path)) return 0;
  return 1;
}

/* Counts one matching request against f; 1 if it fires. */
static int draw(sim_fault *f)
{
  if (f->skip > 0) {
    f->skip--;
    return 0;
  }
  if (f->probability < 1.0 &&
      (double)(sim_rng_next() >> 11) / 9007199254740992.0 >= f->probability) {
    return 0;
  }
  f->fired++;
  if (f->count > 0) f->count--;
  return 1;
}

static void drop_spent(void)
{
  sim_fault **link = &rules;
  while (*link) {
    sim_fault *f = *link;
    if (f->count == 0) {
      *link = f->next;
      free_fault(f);
    } else {
      link = &f->next;
    }
  }
}

/* A copy of body with each "{n}" replaced by n: a body fault that answers a fresh value every
 * time (a continue token that never ends), or NULL when out of memory. */
static char *body_with_count(const char *body, long n)
{
  char num[24];
  int numlen = snprintf(num, sizeof num, "%ld", n);
  size_t len = strlen(body), marks = 0;
  for (const char *p = strstr(body, "{n}"); p; p = strstr(p + 3, "{n}")) marks++;
  char *out = malloc(len + marks * (size_t)numlen + 1);
  if (!out) return NULL;
  char *o = out;
  for (const char *p = body; *p;) {
    if (strncmp(p, "{n}", 3) == 0) {
      memcpy(o, num, (size_t)numlen);
      o += numlen;
      p += 3;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return out;
}

void sim_faults_pick(const char *provider, const char *method, const char *path,
                     sim_fault_pick *out)
{
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&lock);
  for (sim_fault *f = rules; f; f = f->next) {
    if (f->count == 0 || !rule_matches(f, provider, method, path)) continue;
    if (f->kind != SIM_FAULT_LATENCY && out->has_fault) continue;
    if (!draw(f)) continue;
    if (f->kind == SIM_FAULT_LATENCY) {
      out->latency_ms += f->ms;
      continue;
    }
    out->has_fault = 1;
    out->kind = f->kind;
    out->status = f->status;
    out->retry_after = f->retry_after;
    out->retry_after_date = f->retry_after_date;
    out->body = f->body ? body_with_count(f->body, f->fired) : NULL;
    out->latency_ms += f->ms;
  }
  drop_spent();
  pthread_mutex_unlock(&lock);
}

void sim_fault_pick_free(sim_fault_pick *pick)
{
  free(pick->body);
  pick->body = NULL;
}
