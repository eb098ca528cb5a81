/* Tasks live in a hash table for lookups and a list for creation order. One lock guards both:
 * handlers hold it only while they read a task and build its JSON. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store.h"
#include "util.h"

#define SIM_BUCKETS 65536

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sim_task *buckets[SIM_BUCKETS];
static sim_task *head, *tail;
static sim_task *watch_head, *watch_tail;   /* Redpanda tasks with topics, not yet settled */
static unsigned long next_seq;
static long highest_number;

void sim_store_lock(void) { pthread_mutex_lock(&lock); }
void sim_store_unlock(void) { pthread_mutex_unlock(&lock); }

static unsigned hash_key(sim_provider p, sim_kind kind, const char *scope, const char *id)
{
  uint32_t h = 2166136261u ^ (uint32_t)(p * 31 + kind);
  for (const char *s = scope; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  h = (h ^ '/') * 16777619u;
  for (const char *s = id; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h % SIM_BUCKETS;
}

sim_task *sim_store_find(sim_provider p, sim_kind kind, const char *scope, const char *id)
{
  scope = scope ? scope : "";
  for (sim_task *t = buckets[hash_key(p, kind, scope, id)]; t; t = t->hash_next) {
    if (t->provider == p && t->kind == kind && strcmp(t->id, id) == 0 &&
        strcmp(t->scope, scope) == 0) {
      return t;
    }
  }
  return NULL;
}

static void free_task(sim_task *t)
{
  json_decref(t->fields);
  json_decref(t->steps);
  free(t->scope);
  free(t->id);
  free(t);
}

void sim_store_settled(sim_task *t)
{
  if (!t->watched) return;
  t->watched = 0;
  if (t->watch_prev) t->watch_prev->watch_next = t->watch_next;
  else watch_head = t->watch_next;
  if (t->watch_next) t->watch_next->watch_prev = t->watch_prev;
  else watch_tail = t->watch_prev;
  t->watch_next = t->watch_prev = NULL;
}

sim_task *sim_store_next_unsettled(sim_task *after)
{
  return after ? after->watch_next : watch_head;
}

/* Whether t's outcome changes the topic list: a Redpanda task with topics. */
static int has_topics(const sim_task *t)
{
  return t->provider == SIM_REDPANDA && json_array_size(json_object_get(t->fields, "topics")) > 0;
}

void sim_store_remove(sim_task *t)
{
  sim_store_settled(t);
  sim_task **link = &buckets[hash_key(t->provider, t->kind, t->scope, t->id)];
  while (*link && *link != t) link = &(*link)->hash_next;
  if (*link) *link = t->hash_next;
  if (t->prev) t->prev->next = t->next;
  else head = t->next;
  if (t->next) t->next->prev = t->prev;
  else tail = t->prev;
  free_task(t);
}

sim_task *sim_store_add(sim_provider p, sim_kind kind, const char *scope, const char *id,
                        json_t *fields, json_t *steps)
{
  scope = scope ? scope : "";
  sim_task *old = sim_store_find(p, kind, scope, id);
  if (old) sim_store_remove(old);
  sim_task *t = calloc(1, sizeof *t);
  if (!t) {
    json_decref(fields);
    json_decref(steps);
    return NULL;
  }
  t->provider = p;
  t->kind = kind;
  t->scope = strdup(scope);
  t->id = strdup(id);
  t->fields = fields ? fields : json_object();
  t->steps = steps ? steps : json_array();
  sim_config_lock();
  t->poll_mode = sim_cfg.poll_mode;
  sim_config_unlock();
  t->step_ms = -1;
  t->shape = -1;
  t->started_ms = sim_now_ms();
  t->created_epoch_ms = sim_epoch_ms();
  t->seq = ++next_seq;
  unsigned h = hash_key(p, kind, scope, id);
  t->hash_next = buckets[h];
  buckets[h] = t;
  t->prev = tail;
  if (tail) tail->next = t;
  else head = t;
  tail = t;
  if (has_topics(t)) {
    t->watched = 1;
    t->watch_prev = watch_tail;
    if (watch_tail) watch_tail->watch_next = t;
    else watch_head = t;
    watch_tail = t;
  }
  return t;
}

sim_task *sim_store_next(sim_task *after)
{
  return after ? after->next : head;
}

void sim_store_clear(void)
{
  sim_store_lock();
  while (head) sim_store_remove(head);
  highest_number = 0;
  sim_store_unlock();
}

int sim_store_next_number(void)
{
  if (highest_number >= 2147483647L) highest_number = 0;
  return (int)++highest_number;
}

void sim_store_note_number(long id)
{
  if (id > highest_number) highest_number = id;
}

static double step_duration(sim_task *t, json_t *step, double speed, double default_ms)
{
  json_t *ms = json_object_get(step, "ms");
  double d = json_is_number(ms) ? json_number_value(ms) : (t->step_ms >= 0 ? t->step_ms
                                                                          : default_ms);
  return d / speed;
}

size_t sim_task_step_index(sim_task *t)
{
  size_t n = json_array_size(t->steps);
  if (n == 0) return 0;
  if (t->poll_mode) return t->reads < n ? t->reads : n - 1;
  sim_config_lock();
  double speed = sim_cfg.speed, default_ms = sim_cfg.step_ms;
  sim_config_unlock();
  double elapsed = sim_now_ms() - t->started_ms;
  for (size_t i = 0; i + 1 < n; i++) {
    double d = step_duration(t, json_array_get(t->steps, i), speed, default_ms);
    if (elapsed < d) return i;
    elapsed -= d;
  }
  return n - 1;
}

size_t sim_task_shown_index(sim_task *t)
{
  size_t n = json_array_size(t->steps);
  if (!t->poll_mode || n == 0) return sim_task_step_index(t);
  if (t->reads == 0) return 0;
  return t->reads - 1 < n ? t->reads - 1 : n - 1;
}

json_t *sim_task_step(sim_task *t, int consume)
{
  size_t i = sim_task_step_index(t);
  if (consume) t->reads++;
  return json_array_get(t->steps, i);
}

void sim_task_restart(sim_task *t, json_t *steps)
{
  json_decref(t->steps);
  t->steps = steps;
  t->started_ms = sim_now_ms();
  t->reads = 0;
}

json_t *sim_steps_normalise(json_t *steps, char *err, size_t errsize)
{
  if (!json_is_array(steps) || json_array_size(steps) == 0) {
    snprintf(err, errsize, "steps must be a non-empty array");
    return NULL;
  }
  json_t *out = json_array();
  size_t i;
  json_t *step;
  json_array_foreach(steps, i, step) {
    if (json_is_string(step)) {
      json_array_append_new(out, json_pack("{s:O}", "state", step));
    } else if (json_is_object(step) && json_is_string(json_object_get(step, "state"))) {
      json_array_append_new(out, json_deep_copy(step));
    } else {
      snprintf(err, errsize, "step %zu must be a state name or an object with \"state\"", i);
      json_decref(out);
      return NULL;
    }
  }
  return out;
}

json_t *sim_steps_of(const char *const *states)
{
  json_t *out = json_array();
  for (; *states; states++) json_array_append_new(out, json_pack("{s:s}", "state", *states));
  return out;
}

json_t *sim_task_describe(sim_task *t)
{
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:I,s:I}",
                   "provider", sim_provider_name(t->provider),
                   "kind", t->kind == SIM_KIND_INSTALL ? "install" : "task",
                   "scope", t->scope, "id", t->id,
                   "mode", t->poll_mode ? "poll" : "time", "steps", t->steps,
                   "step", (json_int_t)sim_task_step_index(t), "reads", (json_int_t)t->reads);
}
