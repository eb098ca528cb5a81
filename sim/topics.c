/* Topics are few (a spec seeds tens, a bench none): a jansson object keyed by name under one
 * lock, sorted when listed. */
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "topics.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *topics;    /* name -> topic body */

void sim_topics_add(const char *name, json_t *extra)
{
  json_t *body = json_pack("{s:s,s:b,s:i,s:i}", "name", name, "internal", 0,
                           "partition_count", 1, "replication_factor", 3);
  if (json_is_object(extra)) json_object_update(body, extra);
  json_object_set_new(body, "name", json_string(name));
  pthread_mutex_lock(&lock);
  if (!topics) topics = json_object();
  json_object_set_new(topics, name, body);
  pthread_mutex_unlock(&lock);
}

int sim_topics_remove(const char *name)
{
  pthread_mutex_lock(&lock);
  int had = topics && json_object_del(topics, name) == 0;
  pthread_mutex_unlock(&lock);
  return had;
}

void sim_topics_clear(void)
{
  pthread_mutex_lock(&lock);
  json_decref(topics);
  topics = NULL;
  pthread_mutex_unlock(&lock);
}

static int by_name(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *sim_topics_page(const char *part, const char *after, long limit, int *more)
{
  json_t *out = json_array();
  *more = 0;
  pthread_mutex_lock(&lock);
  size_t n = topics ? json_object_size(topics) : 0, k = 0;
  const char **names = n ? malloc(n * sizeof *names) : NULL;
  const char *name;
  json_t *body;
  if (names) {
    json_object_foreach(topics, name, body) {
      if (strstr(name, part) && (!after || strcmp(name, after) > 0)) names[k++] = name;
    }
    qsort(names, k, sizeof *names, by_name);
  }
  for (size_t i = 0; i < k; i++) {
    if (limit >= 0 && (long)i == limit) {
      *more = 1;
      break;
    }
    json_array_append(out, json_object_get(topics, names[i]));
  }
  /* The bodies are shared with the store: copy them before the lock goes. */
  json_t *copy = json_deep_copy(out);
  pthread_mutex_unlock(&lock);
  free(names);
  json_decref(out);
  return copy;
}

json_t *sim_topics_list(void)
{
  int more;
  sim_redpanda_settle();
  return sim_topics_page("", NULL, -1, &more);
}

static int seed_one(json_t *item, json_t *names, char *err, size_t errsize)
{
  const char *name = json_is_string(item) ? json_string_value(item)
                                          : json_string_value(json_object_get(item, "name"));
  if (!name || !*name) {
    snprintf(err, errsize, "a topic is a name or an object with a \"name\"");
    return -1;
  }
  sim_topics_add(name, json_is_object(item) ? item : NULL);
  json_array_append_new(names, json_string(name));
  return 0;
}

json_t *sim_topics_seed(json_t *spec, char *err, size_t errsize)
{
  json_t *names = json_array();
  size_t i;
  json_t *item;
  if (!json_is_array(spec)) {
    if (seed_one(spec, names, err, errsize) == 0) return names;
    json_decref(names);
    return NULL;
  }
  json_array_foreach(spec, i, item) {
    if (seed_one(item, names, err, errsize) != 0) {
      json_decref(names);
      return NULL;
    }
  }
  return names;
}
