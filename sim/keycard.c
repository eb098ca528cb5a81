/* Keycard catalog tasks and installs (docs.keycard.ai/api). A completed task answers 303 See
 * Other to its install; pending, running and failed tasks answer 200. Installs take their status
 * from their tasks; a zone's installs can be listed a page at a time. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "reply.h"
#include "store.h"
#include "util.h"
#include "vendor.h"

#define SIM_NANOID "0123456789abcdefghijklmnopqrstuvwxyz"
#define SIM_CURSOR "sim-c"     /* + a creation sequence number; opaque to clients */
#define SIM_PAGE_DEFAULT 50    /* Keycard documents the 1..100 range, not the default */

static const char *const task_states[] = { "pending", "running", "completed", NULL };

static const char *error_code(int status)
{
  switch (status) {
  case 400: return "bad_request";
  case 401: return "unauthorized";
  case 403: return "forbidden";
  case 404: return "not_found";
  case 409: return "conflict";
  case 422: return "validation_error";
  case 429: return "rate_limit_exceeded";
  case 503: return "service_unavailable";
  default: return status >= 500 ? "internal_error" : "bad_request";
  }
}

static void kc_error_full(sim_request *rq, int status, const char *code, const char *message,
                          json_t *details)
{
  char request_id[40], now[40];
  sim_rng_uuid(request_id);
  sim_now_rfc3339(now, sizeof now);
  sim_reply_json(rq, status, NULL,
                 json_pack("{s:i,s:s,s:s,s:o,s:o,s:s,s:s}", "status", status, "code", code,
                           "message", message, "details", details ? details : json_array(),
                           "path", sim_json_text(rq->path, strlen(rq->path)),
                           "request_id", request_id, "timestamp", now));
}

static void kc_error(sim_request *rq, int status, const char *message)
{
  kc_error_full(rq, status, error_code(status), message, NULL);
}

static void invalid(sim_request *rq, const char *what, const char *field, const char *message)
{
  json_t *details = json_pack("[{s:s,s:s,s:s}]", "code", "validation_error", "field", field,
                              "message", message);
  kc_error_full(rq, 400, "validation_error", what, details);
}

static void validation_error(sim_request *rq, const char *field, const char *message)
{
  invalid(rq, "the request body is invalid", field, message);
}

static json_t *render_task(sim_task *t, json_t *step)
{
  char now[40];
  sim_now_rfc3339(now, sizeof now);
  json_t *obj = json_pack("{s:s,s:O,s:O}", "id", t->id,
                          "created_at", json_object_get(t->fields, "created_at"),
                          "operation", json_object_get(t->fields, "operation"));
  sim_step_apply(obj, step, "status");
  json_object_set_new(obj, "updated_at", json_string(now));
  json_object_update_missing(obj, t->fields);
  return obj;
}

static void get_task(sim_request *rq, const char *zone, const char *id)
{
  char location[512];
  sim_store_lock();
  sim_task *t = sim_store_find(SIM_KEYCARD, SIM_KIND_TASK, zone, id);
  json_t *step = t ? sim_task_step(t, 1) : NULL;
  const char *state = step ? sim_step_state(step) : "gone";
  if (strcmp(state, "gone") == 0) {
    sim_store_unlock();
    kc_error(rq, 404, "catalog task not found");
    return;
  }
  if (strcmp(state, "completed") == 0) {
    const char *install = json_string_value(json_object_get(t->fields, "install_id"));
    snprintf(location, sizeof location, "/zones/%s/installs/%s", zone, install ? install : "");
    sim_store_unlock();
    sim_reply_text(rq, 303, NULL, "");
    sim_reply_header(rq, "Location", location);
    return;
  }
  json_t *obj = render_task(t, step);
  sim_store_unlock();
  sim_reply_json(rq, 200, NULL, obj);
}

/* An install's status follows its delete task if it has one, else its create task. */
static const char *install_status(sim_task *install, const char *zone)
{
  const char *del = json_string_value(json_object_get(install->fields, "_delete_task"));
  const char *make = json_string_value(json_object_get(install->fields, "_create_task"));
  sim_task *t = del ? sim_store_find(SIM_KEYCARD, SIM_KIND_TASK, zone, del) : NULL;
  if (t) {
    const char *s = sim_step_state(sim_task_step(t, 0));
    return strcmp(s, "completed") == 0 ? "deleted" : strcmp(s, "failed") == 0 ? "failed"
                                                                               : "deleting";
  }
  t = make ? sim_store_find(SIM_KEYCARD, SIM_KIND_TASK, zone, make) : NULL;
  const char *s = t ? sim_step_state(sim_task_step(t, 0)) : "completed";
  return strcmp(s, "completed") == 0 ? "active" : strcmp(s, "failed") == 0 ? "failed"
                                                                           : "pending";
}

static json_t *render_install(sim_task *install, const char *zone)
{
  json_t *obj = json_pack("{s:s,s:s,s:s}", "id", install->id, "zone_id", zone, "status",
                          install_status(install, zone));
  const char *name;
  json_t *value;
  json_object_foreach(install->fields, name, value) {
    if (name[0] != '_') json_object_set(obj, name, value);
  }
  return obj;
}

static void get_install(sim_request *rq, const char *zone, const char *id)
{
  sim_store_lock();
  sim_task *t = sim_store_find(SIM_KEYCARD, SIM_KIND_INSTALL, zone, id);
  json_t *obj = t ? render_install(t, zone) : NULL;
  sim_store_unlock();
  if (obj) sim_reply_json(rq, 200, NULL, obj);
  else kc_error(rq, 404, "install not found");
}

/* Reads the after or before cursor into *seq; 1 when absent, 0 when read, -1 (after answering
 * 400) when it is not one of ours. Keycard documents 1..255 characters and nothing more. */
static int read_cursor(sim_request *rq, const char *name, unsigned long *seq)
{
  char *text = sim_query_get(rq->query, name, 0), *end = NULL;
  if (!text) return 1;
  size_t len = strlen(text), pre = strlen(SIM_CURSOR);
  int ok = len <= 255 && strncmp(text, SIM_CURSOR, pre) == 0 &&
           isdigit((unsigned char)text[pre]);
  if (ok) {
    errno = 0;
    *seq = strtoul(text + pre, &end, 10);
    ok = errno == 0 && *end == '\0';
  }
  free(text);
  if (!ok) invalid(rq, "the query parameters are invalid", name, "is not a valid cursor");
  return ok ? 0 : -1;
}

static unsigned long seq_at(json_t *seqs, size_t i)
{
  return (unsigned long)json_integer_value(json_array_get(seqs, i));
}

static json_t *cursor(unsigned long seq)
{
  char text[48];
  snprintf(text, sizeof text, SIM_CURSOR "%lu", seq);
  return json_string(text);
}

/* GET /zones/{z}/installs?limit=&after=&before=: the zone's installs oldest first (creation
 * order), deleted ones included, as an InstallList {items, pagination}. A cursor names a place
 * between two installs, so a page that follows is right even when installs came meanwhile. */
static void list_installs(sim_request *rq, const char *zone)
{
  long limit = SIM_PAGE_DEFAULT;
  unsigned long after = 0, before = 0;
  char *text = sim_query_get(rq->query, "limit", 0);
  int bad = text && sim_parse_long(text, 1, 100, &limit) != 0;
  free(text);
  if (bad) {
    invalid(rq, "the query parameters are invalid", "limit", "must be an integer from 1 to 100");
    return;
  }
  int has_after = read_cursor(rq, "after", &after);
  if (has_after < 0) return;
  int has_before = read_cursor(rq, "before", &before);
  if (has_before < 0) return;
  if (has_after == 0 && has_before == 0) {
    invalid(rq, "the query parameters are invalid", "before", "after and before are exclusive");
    return;
  }
  json_t *all = json_array(), *seqs = json_array();
  sim_store_lock();
  for (sim_task *t = sim_store_next(NULL); t; t = sim_store_next(t)) {
    if (t->provider != SIM_KEYCARD || t->kind != SIM_KIND_INSTALL || strcmp(t->scope, zone)) {
      continue;
    }
    json_array_append_new(all, render_install(t, zone));
    json_array_append_new(seqs, json_integer((json_int_t)t->seq));
  }
  sim_store_unlock();
  /* The page is [lo, hi) of the zone's installs. */
  size_t n = json_array_size(all), lo = 0, hi;
  if (has_before == 0) {
    for (hi = 0; hi < n && seq_at(seqs, hi) < before; hi++) {}
    lo = hi > (size_t)limit ? hi - (size_t)limit : 0;
  } else {
    while (has_after == 0 && lo < n && seq_at(seqs, lo) <= after) lo++;
    hi = lo + (size_t)limit < n ? lo + (size_t)limit : n;
  }
  json_t *items = json_array();
  for (size_t i = lo; i < hi; i++) json_array_append(items, json_array_get(all, i));
  /* after_cursor: everything from item hi on; before_cursor: everything up to item lo - 1. */
  json_t *next = hi < n ? cursor(seq_at(seqs, hi) - 1) : json_null();
  json_t *prev = lo > 0 ? cursor(seq_at(seqs, lo - 1) + 1) : json_null();
  json_decref(all);
  json_decref(seqs);
  sim_reply_json(rq, 200, NULL, json_pack("{s:o,s:{s:o,s:o}}", "items", items, "pagination",
                                          "after_cursor", next, "before_cursor", prev));
}

/* Adds a task for install (lock held) and answers with it. */
static void answer_new_task(sim_request *rq, const char *zone, json_t *fields, int status)
{
  char id[27];
  sim_rng_chars(id, 26, SIM_NANOID);
  json_object_set_new(fields, "id", json_string(id));
  sim_task *t = sim_store_add(SIM_KEYCARD, SIM_KIND_TASK, zone, id, fields,
                              sim_steps_of(task_states));
  json_t *obj = t ? render_task(t, sim_task_step(t, 0)) : json_object();
  sim_reply_json(rq, status, NULL, obj);
}

static json_t *task_fields(const char *operation, sim_task *install)
{
  char now[40];
  sim_now_rfc3339(now, sizeof now);
  json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:O,s:O,s:O,s:[],s:[]}", "created_at", now,
                        "operation", operation, "updated_at", now, "install_id", install->id,
                        "package_id", json_object_get(install->fields, "package_id"),
                        "package_slug", json_object_get(install->fields, "package_slug"),
                        "package_version", json_object_get(install->fields, "package_version"),
                        "links", "warnings");
  return f;
}

static void create_install(sim_request *rq, const char *zone)
{
  char id[27], now[40];
  json_t *body = sim_request_json(rq);
  const char *package = json_string_value(json_object_get(body, "package_id"));
  json_t *version = json_object_get(body, "version");
  json_t *inputs = json_object_get(body, "inputs");
  if (!json_is_object(body)) validation_error(rq, "", "the body must be a JSON object");
  else if (!package || !*package) validation_error(rq, "package_id", "is required");
  else if (version && !json_is_integer(version)) validation_error(rq, "version", "must be an integer");
  else if (inputs && !json_is_object(inputs)) validation_error(rq, "inputs", "must be an object");
  if (rq->reply.status) {
    json_decref(body);
    return;
  }
  const char *slug = strncmp(package, "pkg_", 4) == 0 ? package + 4 : package;
  sim_now_rfc3339(now, sizeof now);
  sim_rng_chars(id, 26, SIM_NANOID);
  json_t *fields = json_pack("{s:s,s:s,s:I,s:s,s:s}", "package_id", package, "package_slug",
                             slug, "package_version",
                             version ? json_integer_value(version) : (json_int_t)1,
                             "created_at", now, "updated_at", now);
  json_decref(body);
  sim_store_lock();
  sim_task *install = sim_store_add(SIM_KEYCARD, SIM_KIND_INSTALL, zone, id, fields, NULL);
  if (install) {
    json_t *tf = task_fields("create", install);
    answer_new_task(rq, zone, tf, 201);
    json_object_set(install->fields, "_create_task", json_object_get(tf, "id"));
  }
  sim_store_unlock();
  if (!install) kc_error(rq, 500, "out of memory");
}

static void delete_install(sim_request *rq, const char *zone, const char *id)
{
  sim_store_lock();
  sim_task *install = sim_store_find(SIM_KEYCARD, SIM_KIND_INSTALL, zone, id);
  if (!install) {
    sim_store_unlock();
    kc_error(rq, 404, "install not found");
    return;
  }
  if (json_object_get(install->fields, "_delete_task")) {
    sim_store_unlock();
    kc_error(rq, 409, "the install is already being deleted");
    return;
  }
  json_t *tf = task_fields("delete", install);
  answer_new_task(rq, zone, tf, 202);
  json_object_set(install->fields, "_delete_task", json_object_get(tf, "id"));
  sim_store_unlock();
}

/* Routes: zones/{z}/catalog_tasks/{t}, zones/{z}/installs (GET lists, POST creates),
 * zones/{z}/installs/{i}. */
static void handle(sim_request *rq)
{
  char *seg[5];
  int n = sim_split_path(rq->path, seg, 5);
  const char *allowed = NULL;
  if (n == 4 && strcmp(seg[2], "catalog_tasks") == 0) allowed = "GET";
  else if (n == 3 && strcmp(seg[2], "installs") == 0) allowed = "GET POST";
  else if (n == 4 && strcmp(seg[2], "installs") == 0) allowed = "GET DELETE";
  sim_auth auth = allowed ? sim_check_bearer(rq, SIM_KEYCARD) : SIM_AUTH_OK;
  if (!allowed) kc_error(rq, 404, "not found");
  else if (!sim_method_allowed(rq, allowed)) kc_error(rq, 405, "method not allowed");
  else if (auth != SIM_AUTH_OK) {
    kc_error(rq, 401, auth == SIM_AUTH_MISSING   ? "missing bearer token"
                       : auth == SIM_AUTH_EXPIRED ? "token expired"
                                                  : "invalid token");
  } else if (n == 3 && strcmp(rq->method, "GET") == 0) {
    list_installs(rq, seg[1]);
  } else if (n == 3) {
    create_install(rq, seg[1]);
  } else if (strcmp(seg[2], "catalog_tasks") == 0) {
    get_task(rq, seg[1], seg[3]);
  } else if (strcmp(rq->method, "GET") == 0) {
    get_install(rq, seg[1], seg[3]);
  } else {
    delete_install(rq, seg[1], seg[3]);
  }
  sim_segments_free(seg, n);
}

static json_t *create(json_t *spec, char *err, size_t errsize)
{
  char id[27], install[27], now[40];
  const char *zone = json_string_value(json_object_get(spec, "zone"));
  const char *given = json_string_value(json_object_get(spec, "id"));
  const char *operation = json_string_value(json_object_get(spec, "operation"));
  const char *given_install = json_string_value(json_object_get(spec, "install_id"));
  if (!zone || !*zone) {
    snprintf(err, errsize, "a Keycard task needs a \"zone\"");
    return NULL;
  }
  sim_rng_chars(id, 26, SIM_NANOID);
  sim_rng_chars(install, 26, SIM_NANOID);
  sim_now_rfc3339(now, sizeof now);
  json_t *fields = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:[],s:[]}", "created_at", now,
                             "operation", operation ? operation : "create", "updated_at", now,
                             "install_id", given_install ? given_install : install,
                             "package_id", "pkg_linear", "package_slug", "linear",
                             "package_version", 1, "links", "warnings");
  sim_store_lock();
  sim_task *t = sim_task_from_spec(SIM_KEYCARD, spec, zone, given ? given : id, fields,
                                   sim_steps_of(task_states), err, errsize);
  json_t *view = NULL;
  if (t) {
    const char *iid = json_string_value(json_object_get(t->fields, "install_id"));
    /* The install the 303 points at exists, so following it works. */
    if (iid && !sim_store_find(SIM_KEYCARD, SIM_KIND_INSTALL, zone, iid)) {
      json_t *inst = json_pack("{s:O,s:O,s:O,s:s,s:s,s:s}",
                               "package_id", json_object_get(t->fields, "package_id"),
                               "package_slug", json_object_get(t->fields, "package_slug"),
                               "package_version", json_object_get(t->fields, "package_version"),
                               "created_at", now, "updated_at", now, "_create_task", t->id);
      sim_store_add(SIM_KEYCARD, SIM_KIND_INSTALL, zone, iid, inst, NULL);
    }
    view = sim_task_describe(t);
  }
  sim_store_unlock();
  return view;
}

const sim_vendor sim_keycard = { SIM_KEYCARD, NULL, "/zones/", handle, kc_error, create };
