/* Admin calls answer plain JSON ({"error": "..."} on failure): they belong to no vendor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "admin.h"
#include "config.h"
#include "faults.h"
#include "reply.h"
#include "reqlog.h"
#include "scenario.h"
#include "server.h"
#include "store.h"
#include "tokens.h"
#include "topics.h"
#include "util.h"
#include "vendor.h"

static const sim_vendor *const vendors[SIM_PROVIDERS] = { &sim_redpanda, &sim_keycard,
                                                          &sim_astra, &sim_bluexp };

static void admin_error(sim_request *rq, int status, const char *message)
{
  sim_reply_json(rq, status, NULL, json_pack("{s:s}", "error", message));
}

static json_t *create_task(json_t *spec, char *err, size_t errsize)
{
  int p = sim_provider_by_name(json_string_value(json_object_get(spec, "provider")));
  if (p < 0) {
    snprintf(err, errsize, "provider must be redpanda, keycard, astra or bluexp");
    return NULL;
  }
  return vendors[p]->create(spec, err, errsize);
}

json_t *sim_admin_create_tasks(json_t *spec, char *err, size_t errsize)
{
  json_t *out = json_array();
  if (json_is_object(spec)) {
    json_t *made = create_task(spec, err, errsize);
    if (!made) {
      json_decref(out);
      return NULL;
    }
    json_array_append_new(out, made);
    return out;
  }
  if (!json_is_array(spec)) {
    snprintf(err, errsize, "tasks must be an object or an array of objects");
    json_decref(out);
    return NULL;
  }
  size_t i;
  json_t *one;
  json_array_foreach(spec, i, one) {
    json_t *made = json_is_object(one) ? create_task(one, err, errsize) : NULL;
    if (!made) {
      if (!json_is_object(one)) snprintf(err, errsize, "task %zu must be an object", i);
      json_decref(out);
      return NULL;
    }
    json_array_append_new(out, made);
  }
  return out;
}

json_t *sim_admin_add_faults(json_t *spec, char *err, size_t errsize)
{
  json_t *ids = json_array();
  json_t *list = json_is_array(spec) ? json_incref(spec) : json_pack("[O]", spec);
  size_t i;
  json_t *one;
  json_array_foreach(list, i, one) {
    int id = sim_faults_add(one, err, errsize);
    if (id < 0) {
      json_decref(ids);
      json_decref(list);
      return NULL;
    }
    json_array_append_new(ids, json_integer(id));
  }
  json_decref(list);
  return ids;
}

static json_t *list_tasks(void)
{
  json_t *list = json_array();
  sim_store_lock();
  for (sim_task *t = sim_store_next(NULL); t; t = sim_store_next(t)) {
    json_array_append_new(list, sim_task_describe(t));
  }
  sim_store_unlock();
  return list;
}

/* An admin collection: GET lists it, POST adds one item or an array of them, DELETE empties it. */
typedef struct {
  const char *list_key;   /* {"tasks": [...]} */
  const char *added_key;  /* what a POST answers under */
  json_t *(*list)(void);
  json_t *(*add)(json_t *spec, char *err, size_t errsize);
  void (*clear)(void);
} admin_collection;

static void do_collection(sim_request *rq, const admin_collection *c)
{
  char err[256] = "bad request";
  if (strcmp(rq->method, "GET") == 0) {
    sim_reply_json(rq, 200, NULL, json_pack("{s:o}", c->list_key, c->list()));
  } else if (strcmp(rq->method, "DELETE") == 0) {
    c->clear();
    sim_reply_json(rq, 200, NULL, json_pack("{s:b}", "ok", 1));
  } else if (strcmp(rq->method, "POST") == 0) {
    json_t *spec = sim_request_json(rq);
    json_t *added = spec ? c->add(spec, err, sizeof err) : NULL;
    json_decref(spec);
    if (!added) {
      admin_error(rq, 400, spec ? err : "the body must be JSON");
      return;
    }
    sim_reply_json(rq, 201, NULL, json_pack("{s:o}", c->added_key, added));
  } else {
    admin_error(rq, 405, "method not allowed");
    sim_reply_header(rq, "Allow", "GET, POST, DELETE");
  }
}

static void do_tasks(sim_request *rq)
{
  static const admin_collection tasks = {
    "tasks", "tasks", list_tasks, sim_admin_create_tasks, sim_store_clear
  };
  do_collection(rq, &tasks);
}

static void do_faults(sim_request *rq)
{
  static const admin_collection faults = {
    "faults", "ids", sim_faults_list, sim_admin_add_faults, sim_faults_clear
  };
  do_collection(rq, &faults);
}

/* GET /_sim/topics lists, POST seeds (a name, {"name", ...} or an array), DELETE drops every
 * topic, or only ?name=. */
static void do_topics(sim_request *rq)
{
  static const admin_collection topics = {
    "topics", "topics", sim_topics_list, sim_topics_seed, sim_topics_clear
  };
  char *name = strcmp(rq->method, "DELETE") == 0 ? sim_query_get(rq->query, "name", 0) : NULL;
  if (name) {
    int had = sim_topics_remove(name);
    free(name);
    sim_reply_json(rq, had ? 200 : 404, NULL, json_pack("{s:b}", "ok", had));
    return;
  }
  do_collection(rq, &topics);
}

/* GET /_sim/tokens: per token endpoint, how many requests it answered, issued, refused and
 * revoked, and how many issued tokens live now; never a token. DELETE revokes the issued
 * tokens (?provider= for one provider): they get the vendor's 401 from then on. */
static void do_tokens(sim_request *rq)
{
  if (strcmp(rq->method, "GET") == 0) {
    sim_reply_json(rq, 200, NULL, json_pack("{s:o}", "tokens", sim_tokens_stats()));
  } else if (strcmp(rq->method, "DELETE") == 0) {
    char *name = sim_query_get(rq->query, "provider", 0);
    int p = name ? sim_provider_by_name(name) : -1, bad = name && p < 0;
    free(name);
    if (bad) {
      admin_error(rq, 400, "provider must be redpanda, keycard or bluexp");
      return;
    }
    size_t n = sim_tokens_revoke(p);
    sim_reply_json(rq, 200, NULL, json_pack("{s:I}", "revoked", (json_int_t)n));
  } else {
    admin_error(rq, 405, "method not allowed");
    sim_reply_header(rq, "Allow", "GET, DELETE");
  }
}

static void do_requests(sim_request *rq)
{
  if (strcmp(rq->method, "GET") == 0) {
    char *provider = sim_query_get(rq->query, "provider", 0);
    char *method = sim_query_get(rq->query, "method", 0);
    char *path = sim_query_get(rq->query, "path", 0);
    json_t *entries = sim_reqlog_entries(provider, method, path);
    free(provider);
    free(method);
    free(path);
    sim_reply_json(rq, 200, NULL, json_pack("{s:o}", "requests", entries));
  } else if (strcmp(rq->method, "DELETE") == 0) {
    sim_reqlog_clear();
    sim_reply_json(rq, 200, NULL, json_pack("{s:b}", "ok", 1));
  } else {
    admin_error(rq, 405, "method not allowed");
    sim_reply_header(rq, "Allow", "GET, DELETE");
  }
}

static void do_config(sim_request *rq)
{
  char err[256] = "bad request";
  if (strcmp(rq->method, "POST") == 0) {
    json_t *spec = sim_request_json(rq);
    int ok = json_is_object(spec) && sim_config_apply(spec, err, sizeof err) == 0;
    if (!json_is_object(spec)) snprintf(err, sizeof err, "the body must be a JSON object");
    json_decref(spec);
    if (!ok) {
      admin_error(rq, 400, err);
      return;
    }
  } else if (strcmp(rq->method, "GET") != 0) {
    admin_error(rq, 405, "method not allowed");
    sim_reply_header(rq, "Allow", "GET, POST");
    return;
  }
  sim_reply_json(rq, 200, NULL, sim_config_json());
}

static void do_reset(sim_request *rq)
{
  char err[256] = "";
  if (strcmp(rq->method, "POST") != 0) {
    admin_error(rq, 405, "method not allowed");
    sim_reply_header(rq, "Allow", "POST");
    return;
  }
  sim_store_clear();
  sim_faults_clear();
  sim_reqlog_clear();
  sim_tokens_clear();
  sim_topics_clear();
  sim_stats_reset();
  sim_config_restore();
  sim_rng_restart();
  if (sim_scenario_reload(err, sizeof err) != 0) {
    admin_error(rq, 500, err);
    return;
  }
  sim_reply_json(rq, 200, NULL, json_pack("{s:b}", "ok", 1));
}

int sim_admin_handle(sim_request *rq)
{
  static const struct {
    const char *path;
    void (*fn)(sim_request *rq);
  } routes[] = {
    { "/_sim/tasks", do_tasks }, { "/_sim/faults", do_faults },
    { "/_sim/requests", do_requests }, { "/_sim/config", do_config },
    { "/_sim/reset", do_reset }, { "/_sim/tokens", do_tokens },
    { "/_sim/topics", do_topics },
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (strcmp(rq->path, routes[i].path) == 0) {
      routes[i].fn(rq);
      return 1;
    }
  }
  return 0;
}
