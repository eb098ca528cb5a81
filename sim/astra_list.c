/* Astra collections (the task list, an app's backups): filter, then page with limit and
 * continue, then project with include. The continue token is the offset of the next page;
 * clients must treat it as opaque. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astra.h"
#include "reply.h"
#include "util.h"
#include "vendor.h"

#define SIM_MAX_FILTERS 8

typedef enum { SIM_EQ, SIM_LT, SIM_GT, SIM_LTE, SIM_GTE } sim_op;

typedef struct {
  char field[128];
  sim_op op;
  char value[256];
} sim_filter;

/* Parses "field op 'value'"; 0 on success. */
static int parse_filter(const char *text, sim_filter *f)
{
  static const char *const ops[] = { "eq", "lt", "gt", "lte", "gte" };
  const char *p = text;
  while (*p == ' ') p++;
  size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.");
  if (n == 0 || n >= sizeof f->field || p[n] != ' ') return -1;
  memcpy(f->field, p, n);
  f->field[n] = '\0';
  p += n;
  while (*p == ' ') p++;
  n = strspn(p, "abcdefghijklmnopqrstuvwxyz");
  int found = 0;
  for (int i = 0; i < 5; i++) {
    if (strlen(ops[i]) == n && strncmp(p, ops[i], n) == 0) {
      f->op = (sim_op)i;
      found = 1;
    }
  }
  if (!found) return -1;
  p += n;
  while (*p == ' ') p++;
  if (*p++ != '\'') return -1;
  const char *close = strchr(p, '\'');
  if (!close || (size_t)(close - p) >= sizeof f->value) return -1;
  memcpy(f->value, p, (size_t)(close - p));
  f->value[close - p] = '\0';
  for (p = close + 1; *p == ' '; p++) {}
  return *p ? -1 : 0;
}

static json_t *lookup(json_t *obj, const char *dotted)
{
  char path[128];
  snprintf(path, sizeof path, "%s", dotted);
  char *save = NULL;
  for (char *part = strtok_r(path, ".", &save); part && obj; part = strtok_r(NULL, ".", &save)) {
    obj = json_object_get(obj, part);
  }
  return obj;
}

static int compare(json_t *v, const char *value, int *cmp)
{
  if (json_is_string(v)) {
    *cmp = strcmp(json_string_value(v), value);
    return 0;
  }
  if (json_is_number(v)) {
    char *end;
    double want = strtod(value, &end);
    if (!*value || *end) return -1;
    double have = json_number_value(v);
    *cmp = have < want ? -1 : have > want;
    return 0;
  }
  if (json_is_boolean(v)) {
    *cmp = strcmp(json_is_true(v) ? "true" : "false", value);
    return 0;
  }
  return -1;
}

static int matches(json_t *obj, const sim_filter *filters, int n)
{
  for (int i = 0; i < n; i++) {
    int cmp;
    if (compare(lookup(obj, filters[i].field), filters[i].value, &cmp) != 0) return 0;
    int ok = filters[i].op == SIM_EQ ? cmp == 0 : filters[i].op == SIM_LT ? cmp < 0
             : filters[i].op == SIM_GT ? cmp > 0 : filters[i].op == SIM_LTE ? cmp <= 0
             : cmp >= 0;
    if (!ok) return 0;
  }
  return 1;
}

static json_t *project(json_t *obj, const char *include)
{
  json_t *row = json_array();
  char *copy = strdup(include), *save = NULL;
  for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
    while (*f == ' ') f++;
    json_t *v = lookup(obj, f);
    json_array_append(row, v ? v : json_null());
  }
  free(copy);
  json_decref(obj);
  return row;
}

/* Checks the query's keys, limit and continue; replies 400 and returns -1 on a bad one. */
static int parse_paging(sim_request *rq, long *limit, long *offset)
{
  char *key, *text;
  for (int i = 0; (key = sim_query_key(rq->query, i)) != NULL; i++) {
    int known = !strcmp(key, "include") || !strcmp(key, "limit") || !strcmp(key, "filter") ||
                !strcmp(key, "continue");
    if (!known) sim_astra_bad_param(rq, 6, key, "The query parameter isn't supported.");
    free(key);
    if (!known) return -1;
  }
  text = sim_query_get(rq->query, "limit", 0);
  int bad = text && sim_parse_long(text, 1, 1000000, limit) != 0;
  free(text);
  if (bad) {
    sim_astra_bad_param(rq, 5, "limit", "The value must be a positive integer.");
    return -1;
  }
  text = sim_query_get(rq->query, "continue", 0);
  char tail;
  bad = text && (sscanf(text, "sim-next-%ld%c", offset, &tail) != 1 || *offset < 0);
  free(text);
  if (bad) {
    sim_astra_bad_param(rq, 5, "continue", "The continue token is not valid.");
    return -1;
  }
  return 0;
}

static int parse_filters(sim_request *rq, sim_filter *filters)
{
  int n = 0;
  char *text;
  for (; (text = sim_query_get(rq->query, "filter", n)) != NULL; n++) {
    int bad = n >= SIM_MAX_FILTERS || parse_filter(text, &filters[n]) != 0;
    free(text);
    if (bad) {
      sim_astra_bad_param(rq, 5, "filter", "Use field eq|lt|gt|lte|gte 'value'.");
      return -1;
    }
  }
  return n;
}

/* Answers the collection: items (taken) are the page, matched how many passed the filters. */
static void reply_list(sim_request *rq, const char *type, json_t *items, long matched,
                       long offset)
{
  char now[40], token[40];
  sim_now_rfc3339(now, sizeof now);
  json_t *meta = json_pack("{s:[],s:s,s:s,s:s,s:I}", "labels", "creationTimestamp", now,
                           "modificationTimestamp", now, "createdBy",
                           "00000000-0000-0000-0000-000000000000", "count", (json_int_t)matched);
  long next = offset + (long)json_array_size(items);
  if (next < matched) {
    snprintf(token, sizeof token, "sim-next-%ld", next);
    json_object_set_new(meta, "continue", json_string(token));
  }
  sim_reply_json(rq, 200, NULL, json_pack("{s:s,s:s,s:o,s:o}", "type", type, "version", "1.1",
                                          "items", items, "metadata", meta));
}

void sim_astra_list(sim_request *rq)
{
  sim_filter filters[SIM_MAX_FILTERS];
  long limit = -1, offset = 0, matched = 0;
  int nfilters;
  if (parse_paging(rq, &limit, &offset) != 0 || (nfilters = parse_filters(rq, filters)) < 0) {
    return;
  }
  char *include = sim_query_get(rq->query, "include", 0);
  json_t *items = json_array();
  sim_store_lock();
  for (sim_task *t = sim_store_next(NULL); t; t = sim_store_next(t)) {
    if (t->provider != SIM_ASTRA) continue;
    json_t *step = sim_task_step(t, 0);
    if (strcmp(sim_step_state(step), "gone") == 0) continue;
    json_t *obj = sim_astra_render(t, step);
    int in_page = matches(obj, filters, nfilters) && matched++ >= offset &&
                  (limit < 0 || (long)json_array_size(items) < limit);
    if (in_page) {
      t->reads++;
      json_array_append_new(items, include && *include ? project(obj, include) : obj);
    } else {
      json_decref(obj);
    }
  }
  sim_store_unlock();
  free(include);
  reply_list(rq, "application/astra-tasks", items, matched, offset);
}

void sim_astra_list_objects(sim_request *rq, const char *type, json_t *objects)
{
  sim_filter filters[SIM_MAX_FILTERS];
  long limit = -1, offset = 0, matched = 0;
  int nfilters;
  if (parse_paging(rq, &limit, &offset) != 0 || (nfilters = parse_filters(rq, filters)) < 0) {
    json_decref(objects);
    return;
  }
  char *include = sim_query_get(rq->query, "include", 0);
  json_t *items = json_array(), *obj;
  size_t i;
  json_array_foreach(objects, i, obj) {
    int in_page = matches(obj, filters, nfilters) && matched++ >= offset &&
                  (limit < 0 || (long)json_array_size(items) < limit);
    if (!in_page) continue;
    json_incref(obj);
    json_array_append_new(items, include && *include ? project(obj, include) : obj);
  }
  json_decref(objects);
  free(include);
  reply_list(rq, type, items, matched, offset);
}
