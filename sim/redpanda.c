/* Redpanda Cloud data plane: mount tasks (docs.redpanda.com: "Mountable topics" and the cloud
 * data-plane API). google.rpc errors carry the code as an enum name; a task that passed CUT_OVER
 * is deleted, so its next GET is a 404. The same routes under /v1alpha2 answer bare bodies, as
 * that gateway still unwraps the task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "reply.h"
#include "store.h"
#include "topics.h"
#include "util.h"
#include "vendor.h"

static const char *const mount_states[] = {
  "STATE_PLANNED", "STATE_PREPARING", "STATE_PREPARED", "STATE_EXECUTING", "STATE_EXECUTED",
  "STATE_CUT_OVER", "gone", NULL
};
static const char *const cancel_states[] = { "STATE_CANCELING", "STATE_CANCELLED", NULL };

#define TOPICS_PAGE_SIZE 100
#define TOPICS_PAGE_MAX 1000

static const char *rpc_code(int status)
{
  switch (status) {
  case 400: return "INVALID_ARGUMENT";
  case 401: return "UNAUTHENTICATED";
  case 403: return "PERMISSION_DENIED";
  case 404: return "NOT_FOUND";
  case 405: return "UNIMPLEMENTED";
  case 409: return "ALREADY_EXISTS";
  case 413: return "INVALID_ARGUMENT";
  case 429: return "RESOURCE_EXHAUSTED";
  case 501: return "UNIMPLEMENTED";
  case 503: return "UNAVAILABLE";
  case 504: return "DEADLINE_EXCEEDED";
  default: return status >= 500 ? "INTERNAL" : "UNKNOWN";
  }
}

static void rpc_error(sim_request *rq, int status, const char *code, const char *message)
{
  sim_reply_json(rq, status, NULL, json_pack("{s:s,s:s,s:[]}", "code", code, "message",
                                             message, "details"));
  /* The gateway copies an UNAUTHENTICATED message into WWW-Authenticate. */
  if (status == 401) sim_reply_header(rq, "WWW-Authenticate", message);
}

static void rp_error(sim_request *rq, int status, const char *message)
{
  rpc_error(rq, status, rpc_code(status), message);
}

static json_t *render(sim_task *t, json_t *step)
{
  json_t *obj = json_pack("{s:I}", "id", (json_int_t)strtol(t->id, NULL, 10));
  sim_step_apply(obj, step, "state");
  json_object_update_missing(obj, t->fields);
  return obj;
}

static int bare(sim_task *t)
{
  if (t->shape >= 0) return t->shape;
  sim_config_lock();
  int b = sim_cfg.redpanda_bare;
  sim_config_unlock();
  return b;
}

/* Parses a path id as the int32 the API declares; 0 is a valid id. */
static int parse_id(sim_request *rq, const char *text, char *out, size_t size)
{
  long id;
  if (sim_parse_long(text, -2147483647L - 1, 2147483647L, &id) != 0) {
    rp_error(rq, 400, "type mismatch, parameter: id, error: invalid syntax");
    return -1;
  }
  snprintf(out, size, "%ld", id);
  return 0;
}

/* A mount task creates its topics (alias or source name) and an unmount task removes them
 * when it reaches its final state, CUT_OVER, or is gone after it: the topic list then agrees
 * with what the task reported. Applied once per task, under the store lock. */
static void settle(sim_task *t, json_t *step)
{
  const char *state = sim_step_state(step);
  if (t->settled || (strcmp(state, "STATE_CUT_OVER") != 0 && strcmp(state, "gone") != 0)) return;
  t->settled = 1;
  sim_store_settled(t);
  const char *type = json_string_value(json_object_get(t->fields, "type"));
  int mount = !type || strcmp(type, "TYPE_UNMOUNT") != 0;
  size_t i;
  json_t *topic;
  json_array_foreach(json_object_get(t->fields, "topics"), i, topic) {
    const char *name = json_string_value(json_object_get(topic, "topic_reference"));
    if (!name || !*name) continue;
    if (mount) sim_topics_add(name, NULL);
    else sim_topics_remove(name);
  }
}

void sim_redpanda_settle(void)
{
  sim_store_lock();
  /* Only a task with topics changes the list; settling one takes it off the walk. */
  sim_task *next;
  for (sim_task *t = sim_store_next_unsettled(NULL); t; t = next) {
    next = sim_store_next_unsettled(t);
    settle(t, json_array_get(t->steps, sim_task_shown_index(t)));
  }
  sim_store_unlock();
}

static void get_task(sim_request *rq, const char *id, int alpha)
{
  char message[96];
  sim_store_lock();
  sim_task *t = sim_store_find(SIM_REDPANDA, SIM_KIND_TASK, "", id);
  json_t *step = t ? sim_task_step(t, 1) : NULL;
  if (t) settle(t, step);
  if (!t || strcmp(sim_step_state(step), "gone") == 0) {
    sim_store_unlock();
    snprintf(message, sizeof message, "mount task %s not found", id);
    rp_error(rq, 404, message);
    return;
  }
  json_t *task = render(t, step);
  int b = alpha || bare(t);
  sim_store_unlock();
  sim_reply_json(rq, 200, NULL, b ? task : json_pack("{s:o}", "task", task));
}

static void list_tasks(sim_request *rq, int alpha)
{
  json_t *tasks = json_array();
  sim_config_lock();
  int b = alpha || sim_cfg.redpanda_bare;
  sim_config_unlock();
  sim_store_lock();
  for (sim_task *t = sim_store_next(NULL); t; t = sim_store_next(t)) {
    if (t->provider != SIM_REDPANDA) continue;
    json_t *step = sim_task_step(t, 1);
    settle(t, step);
    if (strcmp(sim_step_state(step), "gone") != 0) json_array_append_new(tasks, render(t, step));
  }
  sim_store_unlock();
  sim_reply_json(rq, 200, NULL, b ? tasks : json_pack("{s:o}", "tasks", tasks));
}

/* Validates a mount or unmount body into the task's topics; replies 400 on error. */
static json_t *parse_topics(sim_request *rq, int mount)
{
  json_t *body = sim_request_json(rq);
  const char *problem = NULL;
  if (!json_is_array(body)) problem = "the body must be a JSON array of topics";
  else if (json_array_size(body) < 1 || json_array_size(body) > 1024) {
    problem = "topics must hold between 1 and 1024 items";
  }
  json_t *topics = json_array();
  size_t i;
  json_t *item;
  if (!problem) json_array_foreach(body, i, item) {
    const char *src = json_string_value(json_object_get(item, "source_topic_reference"));
    const char *alias = json_string_value(json_object_get(item, "alias"));
    const char *name = json_string_value(item);
    if (mount && (!src || !*src)) {
      problem = "topics[].source_topic_reference is required";
    } else if (!mount && (!name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                                "QRSTUVWXYZ0123456789._-") != strlen(name))) {
      problem = "topics[] must match ^[a-zA-Z0-9._\\-]*$";
    } else if (!mount && json_array_size(topics) > 0) {
      for (size_t k = 0; k < json_array_size(topics) && !problem; k++) {
        json_t *seen = json_object_get(json_array_get(topics, k), "topic_reference");
        if (strcmp(json_string_value(seen), name) == 0) problem = "topics[] must be unique";
      }
    }
    if (problem) break;
    json_array_append_new(topics, json_pack("{s:s,s:s}", "topic_reference",
                                            mount ? (alias && *alias ? alias : src) : name,
                                            "source_topic_reference", mount ? src : ""));
  }
  json_decref(body);
  if (problem) {
    json_decref(topics);
    rp_error(rq, 400, problem);
    return NULL;
  }
  return topics;
}

static void start_task(sim_request *rq, int mount)
{
  char id[16];
  json_t *topics = parse_topics(rq, mount);
  if (!topics) return;
  sim_store_lock();
  int n = sim_store_next_number();
  snprintf(id, sizeof id, "%d", n);
  json_t *fields = json_pack("{s:s,s:o}", "type", mount ? "TYPE_MOUNT" : "TYPE_UNMOUNT",
                             "topics", topics);
  sim_store_add(SIM_REDPANDA, SIM_KIND_TASK, "", id, fields, sim_steps_of(mount_states));
  sim_store_unlock();
  sim_reply_json(rq, 200, NULL, json_pack("{s:i}", "mount_task_id", n));
}

/* The steps of t from the first one named state on, or NULL if it is not ahead. */
static json_t *steps_from(sim_task *t, const char *state)
{
  size_t now = sim_task_step_index(t);
  for (size_t i = now; i < json_array_size(t->steps); i++) {
    if (strcmp(sim_step_state(json_array_get(t->steps, i)), state) != 0) continue;
    json_t *tail = json_array();
    for (size_t k = i; k < json_array_size(t->steps); k++) {
      json_array_append(tail, json_array_get(t->steps, k));
    }
    return tail;
  }
  return NULL;
}

static json_t *action_steps(sim_task *t, const char *action)
{
  static const char *const cancellable[] = { "STATE_PREPARING", "STATE_PREPARED",
                                             "STATE_EXECUTING", "STATE_EXECUTED", NULL };
  if (strcmp(action, "ACTION_CANCEL") == 0) {
    const char *now = sim_step_state(json_array_get(t->steps, sim_task_step_index(t)));
    for (int i = 0; cancellable[i]; i++) {
      if (strcmp(now, cancellable[i]) == 0) return sim_steps_of(cancel_states);
    }
    return NULL;
  }
  if (strcmp(action, "ACTION_PREPARE") == 0) return steps_from(t, "STATE_PREPARING");
  if (strcmp(action, "ACTION_EXECUTE") == 0) return steps_from(t, "STATE_EXECUTING");
  return steps_from(t, "STATE_CUT_OVER");
}

static void update_task(sim_request *rq, const char *id)
{
  json_t *body = sim_request_json(rq);
  const char *action = json_string_value(json_object_get(body, "action"));
  int known = action && (strcmp(action, "ACTION_PREPARE") == 0 ||
                         strcmp(action, "ACTION_EXECUTE") == 0 ||
                         strcmp(action, "ACTION_FINISH") == 0 ||
                         strcmp(action, "ACTION_CANCEL") == 0);
  if (!known) {
    json_decref(body);
    rp_error(rq, 400, "action must be ACTION_PREPARE, ACTION_EXECUTE, ACTION_FINISH or "
             "ACTION_CANCEL");
    return;
  }
  sim_store_lock();
  sim_task *t = sim_store_find(SIM_REDPANDA, SIM_KIND_TASK, "", id);
  json_t *steps = t ? action_steps(t, action) : NULL;
  if (steps) sim_task_restart(t, steps);
  sim_store_unlock();
  json_decref(body);
  if (!t) rp_error(rq, 404, "mount task not found");
  else if (!steps) rpc_error(rq, 400, "FAILED_PRECONDITION", "the action is not possible in "
                             "the task's current state");
  else sim_reply_json(rq, 201, NULL, json_object());
}

static void delete_task(sim_request *rq, const char *id)
{
  sim_store_lock();
  sim_task *t = sim_store_find(SIM_REDPANDA, SIM_KIND_TASK, "", id);
  if (t) settle(t, json_array_get(t->steps, sim_task_shown_index(t)));
  if (t) sim_store_remove(t);
  sim_store_unlock();
  if (t) sim_reply_json(rq, 202, NULL, json_object());
  else rp_error(rq, 404, "mount task not found");
}

/* Page tokens are the hex of the last name a page held: opaque to clients, and a page that
 * follows stays right when topics come and go between the calls. */
static char *token_decode(const char *hex)
{
  size_t n = strlen(hex);
  if (n % 2 || strspn(hex, "0123456789abcdef") != n) return NULL;
  char *out = malloc(n / 2 + 1);
  for (size_t i = 0; out && i < n / 2; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    out[i] = (char)v;
  }
  if (out) out[n / 2] = '\0';
  return out;
}

static json_t *token_encode(const char *name)
{
  size_t n = strlen(name);
  char *hex = malloc(2 * n + 1);
  for (size_t i = 0; hex && i < n; i++) snprintf(hex + 2 * i, 3, "%02x", (unsigned char)name[i]);
  if (hex) hex[2 * n] = '\0';
  json_t *s = json_string(hex ? hex : "");
  free(hex);
  return s;
}

/* GET /v1/topics: filter.name_contains, page_size (default 100, -1 for no paging) and
 * page_token; next_page_token is "" on the last page. */
static void list_topics(sim_request *rq)
{
  char *part = sim_query_get(rq->query, "filter.name_contains", 0);
  char *size = sim_query_get(rq->query, "page_size", 0);
  char *token = sim_query_get(rq->query, "page_token", 0);
  char *after = token && *token ? token_decode(token) : NULL;
  long limit = TOPICS_PAGE_SIZE;
  if (size && *size && (sim_parse_long(size, -1, TOPICS_PAGE_MAX, &limit) != 0)) {
    rp_error(rq, 400, "invalid page_size: it must be an integer from -1 to 1000");
  } else if (token && *token && !after) {
    rp_error(rq, 400, "invalid page_token");
  } else {
    int more;
    if (limit == 0) limit = TOPICS_PAGE_SIZE;
    sim_redpanda_settle();
    json_t *page = sim_topics_page(part ? part : "", after, limit, &more);
    size_t n = json_array_size(page);
    json_t *next = more && n ? token_encode(json_string_value(
                                 json_object_get(json_array_get(page, n - 1), "name")))
                             : json_string("");
    sim_reply_json(rq, 200, NULL, json_pack("{s:o,s:o}", "topics", page, "next_page_token",
                                            next));
  }
  free(part);
  free(size);
  free(token);
  free(after);
}

static int authorised(sim_request *rq)
{
  sim_auth a = sim_check_bearer(rq, SIM_REDPANDA);
  if (a == SIM_AUTH_OK) return 1;
  rp_error(rq, 401, a == SIM_AUTH_MISSING   ? "missing bearer token"
                    : a == SIM_AUTH_EXPIRED ? "token expired"
                                            : "invalid bearer token");
  return 0;
}

/* Answers an authorised request on a known route. */
static void route(sim_request *rq, char **seg, int n)
{
  char id[16];
  int alpha = strcmp(seg[0], "v1alpha2") == 0;
  if (n == 2) {
    list_topics(rq);
  } else if (n == 4 && strcmp(seg[2], "topics") == 0) {
    start_task(rq, strcmp(seg[3], "mount") == 0);
  } else if (n == 3) {
    list_tasks(rq, alpha);
  } else if (parse_id(rq, seg[3], id, sizeof id) == 0) {
    if (strcmp(rq->method, "GET") == 0) get_task(rq, id, alpha);
    else if (strcmp(rq->method, "POST") == 0) update_task(rq, id);
    else delete_task(rq, id);
  }
}

/* Routes under v1|v1alpha2/cloud-storage/: mount-tasks, mount-tasks/{id}, topics/mount,
 * topics/unmount; and v1/topics. */
static void handle(sim_request *rq)
{
  char *seg[5];
  int n = sim_split_path(rq->path, seg, 5);
  int base = n >= 3 && (strcmp(seg[0], "v1") == 0 || strcmp(seg[0], "v1alpha2") == 0) &&
             strcmp(seg[1], "cloud-storage") == 0;
  int tasks = base && strcmp(seg[2], "mount-tasks") == 0;
  int topics = base && n == 4 && strcmp(seg[2], "topics") == 0;
  const char *allowed = NULL;
  if (n == 2 && strcmp(seg[0], "v1") == 0 && strcmp(seg[1], "topics") == 0) allowed = "GET";
  else if (tasks && n == 3) allowed = "GET";
  else if (tasks && n == 4) allowed = "GET POST DELETE";
  else if (topics && (strcmp(seg[3], "mount") == 0 || strcmp(seg[3], "unmount") == 0)) {
    allowed = "POST";
  }
  if (!allowed) rp_error(rq, 404, "Not Found");
  else if (!sim_method_allowed(rq, allowed)) rp_error(rq, 405, "Method Not Allowed");
  else if (authorised(rq)) route(rq, seg, n);
  sim_segments_free(seg, n);
}

static json_t *create(json_t *spec, char *err, size_t errsize)
{
  char id[16];
  json_t *given = json_object_get(spec, "id");
  const char *type = json_string_value(json_object_get(spec, "type"));
  json_t *topics = json_object_get(spec, "topics");
  if (given && (!json_is_integer(given) || json_integer_value(given) < 0 ||
                json_integer_value(given) > 2147483647)) {
    snprintf(err, errsize, "a Redpanda task id must be an int32 >= 0");
    return NULL;
  }
  if (!topics) topics = json_pack("[{s:s,s:s}]", "topic_reference", "orders",
                                  "source_topic_reference", "orders");
  else json_incref(topics);
  json_t *fields = json_pack("{s:s,s:o}", "type", type ? type : "TYPE_MOUNT", "topics", topics);
  sim_store_lock();
  long n = given ? (long)json_integer_value(given) : sim_store_next_number();
  sim_store_note_number(n);
  snprintf(id, sizeof id, "%ld", n);
  sim_task *t = sim_task_from_spec(SIM_REDPANDA, spec, "", id, fields,
                                   sim_steps_of(mount_states), err, errsize);
  json_t *view = t ? sim_task_describe(t) : NULL;
  sim_store_unlock();
  return view;
}

/* "/v1" also takes in /v1alpha2; the handler answers anything else under it with a 404. */
const sim_vendor sim_redpanda = { SIM_REDPANDA, NULL, "/v1", handle, rp_error, create };
