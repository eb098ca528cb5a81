/* NetApp Astra Control (docs.netapp.com/us-en/astra-automation): tasks with
 * include/limit/filter/continue, problem+json errors whose status is a string, and app backups
 * that start an astra.backup task with an astra.backup.prep child. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astra.h"
#include "reply.h"
#include "store.h"
#include "util.h"
#include "vendor.h"

#define SIM_PROBLEM "application/problem+json"
#define SIM_NOBODY "00000000-0000-0000-0000-000000000000"

static const char default_steps[] =
  "[{\"state\":\"running\",\"percentDone\":0},{\"state\":\"running\",\"percentDone\":50},"
  "{\"state\":\"completed\",\"percentDone\":100}]";
static const char prep_steps[] =
  "[{\"state\":\"running\",\"percentDone\":0},{\"state\":\"completed\",\"percentDone\":100}]";

typedef struct {
  int status;
  int number;             /* https://astra.netapp.io/problems/N; 0: about:blank */
  const char *title;
} sim_problem;

static const sim_problem problems[] = {
  { 400, 5, "Invalid query parameters" }, { 401, 4, "Invalid bearer token" },
  { 403, 11, "Operation not permitted" }, { 404, 1, "Resource not found" },
  { 500, 34, "Internal server error" }, { 503, 24, "Service unavailable" },
  { 405, 0, "Method not allowed" }, { 409, 0, "Conflict" }, { 413, 0, "Payload too large" },
  { 429, 0, "Too many requests" },
};

void sim_astra_problem(sim_request *rq, int status, int number, const char *title,
                       const char *detail, json_t *invalid)
{
  char type[64], code[8], correlation[40];
  if (number) snprintf(type, sizeof type, "https://astra.netapp.io/problems/%d", number);
  else snprintf(type, sizeof type, "about:blank");
  snprintf(code, sizeof code, "%d", status);
  sim_rng_uuid(correlation);
  json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", type, "title", title, "detail",
                           detail, "status", code, "correlationID", correlation);
  if (invalid) json_object_set_new(body, "invalidParams", invalid);
  sim_reply_json(rq, status, SIM_PROBLEM, body);
}

static void as_error(sim_request *rq, int status, const char *message)
{
  for (size_t i = 0; i < sizeof problems / sizeof problems[0]; i++) {
    if (problems[i].status == status) {
      sim_astra_problem(rq, status, problems[i].number, problems[i].title, message, NULL);
      return;
    }
  }
  sim_astra_problem(rq, status, status >= 500 ? 34 : 0, status >= 500 ? "Internal server error"
                    : "Request failed", message, NULL);
}

void sim_astra_bad_param(sim_request *rq, int number, const char *name, const char *reason)
{
  json_t *invalid = json_pack("[{s:s,s:s}]", "name", name, "reason", reason);
  if (number == 6) {
    sim_astra_problem(rq, 400, 6, "Query parameters not supported",
                      "The supplied query parameters aren't supported.", invalid);
  } else {
    sim_astra_problem(rq, 400, 5, "Invalid query parameters",
                      "The supplied query parameters are invalid.", invalid);
  }
}

json_t *sim_astra_render(sim_task *t, json_t *step)
{
  json_t *obj = json_deep_copy(t->fields);
  const char *key;
  json_t *value;
  void *tmp;
  /* Fields starting with '_' are the simulator's own bookkeeping. */
  json_object_foreach_safe(obj, tmp, key, value) {
    if (key[0] == '_') json_object_del(obj, key);
  }
  sim_step_apply(obj, step, "state");
  const char *state = sim_step_state(step);
  int done = strcmp(state, "completed") == 0;
  if (done) json_object_set_new(obj, "percentDone", json_integer(100));
  if (done || strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0) {
    /* The first terminal read fixes endTime, so later reads agree. */
    if (!json_object_get(t->fields, "endTime")) {
      char now[40];
      sim_now_rfc3339(now, sizeof now);
      json_object_set_new(t->fields, "endTime", json_string(now));
    }
    json_object_set(obj, "endTime", json_object_get(t->fields, "endTime"));
  }
  return obj;
}

static void get_task(sim_request *rq, const char *id)
{
  sim_store_lock();
  sim_task *t = sim_store_find(SIM_ASTRA, SIM_KIND_TASK, "", id);
  json_t *step = t ? sim_task_step(t, 1) : NULL;
  json_t *obj = (step && strcmp(sim_step_state(step), "gone") != 0)
                    ? sim_astra_render(t, step) : NULL;
  sim_store_unlock();
  if (obj) sim_reply_json(rq, 200, NULL, obj);
  else sim_astra_problem(rq, 404, 1, "Resource not found",
                         "The resource specified in the request URI wasn't found.", NULL);
}

/* Fields every task carries; parent may be NULL. */
static json_t *task_fields(const char *id, const char *name, const char *summary,
                           const char *description, const char *parent, const char *rid,
                           const char *uri)
{
  char now[40];
  sim_now_rfc3339(now, sizeof now);
  json_t *f = json_pack(
      "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:[{s:s,s:[ss]},{s:s,s:[ss]}],s:[],"
      "s:i,s:s,s:{s:[],s:s,s:s,s:s}}",
      "type", "application/astra-task", "version", "1.1", "id", id, "name", name,
      "summary", summary, "description", description, "service", "nautilus",
      "resourceID", rid, "resourceURI", uri, "resourceCollectionURI", uri,
      "stateTransitions", "from", "running", "to", "paused", "cancelled",
      "from", "paused", "to", "running", "cancelled", "stateDetails",
      "orderHint", 0, "startTime", now,
      "metadata", "labels", "creationTimestamp", now, "modificationTimestamp", now,
      "createdBy", SIM_NOBODY);
  if (parent) json_object_set_new(f, "parentTaskID", json_string(parent));
  return f;
}

/* The astra.backup task of app whose backup is id, or NULL (store lock held). */
static sim_task *backup_task(const char *app, const char *id)
{
  for (sim_task *t = sim_store_next(NULL); t; t = sim_store_next(t)) {
    const char *rid = json_string_value(json_object_get(t->fields, "resourceID"));
    const char *tapp = json_string_value(json_object_get(t->fields, "_app"));
    if (t->provider == SIM_ASTRA && rid && tapp && strcmp(rid, id) == 0 &&
        strcmp(tapp, app) == 0) {
      return t;
    }
  }
  return NULL;
}

/* The backup resource of task t, its state read off t without counting a read (lock held). */
static json_t *render_backup(sim_task *t)
{
  static const char *const map[][2] = { { "notStarted", "pending" }, { "running", "running" },
                                        { "completed", "completed" }, { "failed", "failed" },
                                        { "cancelled", "failed" } };
  const char *task_state = sim_step_state(sim_task_step(t, 0)), *state = "running";
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    if (strcmp(map[i][0], task_state) == 0) state = map[i][1];
  }
  return json_pack("{s:s,s:s,s:O,s:O,s:s,s:O}", "type", "application/astra-appBackup",
                   "version", "1.1", "id", json_object_get(t->fields, "resourceID"),
                   "name", json_object_get(t->fields, "_backupName"), "state", state,
                   "metadata", json_object_get(t->fields, "metadata"));
}

/* The backup resource; -1 when unknown. */
static int backup_state(const char *app, const char *id, json_t **out)
{
  sim_store_lock();
  sim_task *t = backup_task(app, id);
  if (t) *out = render_backup(t);
  sim_store_unlock();
  return t ? 0 : -1;
}

/* GET .../apps/{app}/appBackups: the app's backups in creation order, each as a GET of it
 * answers, with the task list's include, limit, filter and continue. */
static void list_backups(sim_request *rq, const char *app)
{
  json_t *all = json_array();
  sim_store_lock();
  for (sim_task *t = sim_store_next(NULL); t; t = sim_store_next(t)) {
    const char *tapp = json_string_value(json_object_get(t->fields, "_app"));
    if (t->provider == SIM_ASTRA && tapp && strcmp(tapp, app) == 0) {
      json_array_append_new(all, render_backup(t));
    }
  }
  sim_store_unlock();
  sim_astra_list_objects(rq, "application/astra-appBackups", all);
}

static void create_backup(sim_request *rq, const char *account, const char *app)
{
  char bid[40], sid[40], parent[40], child[40], uri[512], snap[512];
  json_t *body = sim_request_json(rq);
  const char *name = json_string_value(json_object_get(body, "name"));
  if (!json_is_object(body) || (json_object_get(body, "name") && (!name || !*name))) {
    json_decref(body);
    sim_astra_problem(rq, 400, 7, "Invalid JSON payload",
                      "The request body must be a JSON object with a string name.", NULL);
    return;
  }
  sim_rng_uuid(bid);
  sim_rng_uuid(sid);
  sim_rng_uuid(parent);
  sim_rng_uuid(child);
  snprintf(uri, sizeof uri, "/accounts/%s/k8s/v1/apps/%s/appBackups/%s", account, app, bid);
  snprintf(snap, sizeof snap, "/accounts/%s/k8s/v1/apps/%s/appSnaps/%s", account, app, sid);
  json_t *pf = task_fields(parent, "astra.backup", "Backup",
                           "Task to take a Backup for an application", NULL, bid, uri);
  json_t *cf = task_fields(child, "astra.backup.prep", "Backup preparation",
                           "Task to prepare for the application backup", parent, sid, snap);
  json_object_set_new(pf, "_app", json_string(app));
  json_object_set_new(pf, "_backupName", json_string(name ? name : bid));
  sim_store_lock();
  sim_store_add(SIM_ASTRA, SIM_KIND_TASK, "", parent, pf, json_loads(default_steps, 0, NULL));
  sim_store_add(SIM_ASTRA, SIM_KIND_TASK, "", child, cf, json_loads(prep_steps, 0, NULL));
  sim_store_unlock();
  json_decref(body);
  json_t *backup = NULL;
  backup_state(app, bid, &backup);
  sim_reply_json(rq, 201, NULL, backup);
  sim_reply_header(rq, "Location", uri);
}

static void get_backup(sim_request *rq, const char *app, const char *id)
{
  json_t *backup = NULL;
  if (backup_state(app, id, &backup) == 0) sim_reply_json(rq, 200, NULL, backup);
  else sim_astra_problem(rq, 404, 1, "Resource not found",
                         "The resource specified in the request URI wasn't found.", NULL);
}

static int authorised(sim_request *rq, const char *account)
{
  sim_auth a = sim_check_bearer(rq, SIM_ASTRA);
  if (a == SIM_AUTH_MISSING) {
    sim_astra_problem(rq, 401, 3, "Missing bearer token",
                      "The request is missing the required bearer token.", NULL);
    return 0;
  }
  if (a != SIM_AUTH_OK) {
    sim_astra_problem(rq, 401, 4, "Invalid bearer token",
                      a == SIM_AUTH_EXPIRED ? "The supplied bearer token has expired."
                                            : "The supplied bearer token is invalid.", NULL);
    return 0;
  }
  sim_config_lock();
  int same = strcmp(account, sim_cfg.astra_account) == 0;
  sim_config_unlock();
  if (!same) {
    sim_astra_problem(rq, 403, 11, "Operation not permitted",
                      "The requested operation isn't permitted.", NULL);
  }
  return same;
}

/* Answers an authorised request on a known route. */
static void route(sim_request *rq, char **seg, int n, int core)
{
  if (core && n == 5) sim_astra_list(rq);
  else if (core) get_task(rq, seg[5]);
  else if (n == 7 && strcmp(rq->method, "GET") == 0) list_backups(rq, seg[5]);
  else if (n == 7) create_backup(rq, seg[1], seg[5]);
  else get_backup(rq, seg[5], seg[7]);
}

/* Routes under accounts/{a}/: core/v1/tasks[/{id}], k8s/v1/apps/{app}/appBackups (GET lists,
 * POST starts one), k8s/v1/apps/{app}/appBackups/{id}. */
static void handle(sim_request *rq)
{
  char *seg[8];
  int n = sim_split_path(rq->path, seg, 8);
  int core = n >= 5 && strcmp(seg[2], "core") == 0 && strcmp(seg[3], "v1") == 0 &&
             strcmp(seg[4], "tasks") == 0;
  int backups = n >= 7 && strcmp(seg[2], "k8s") == 0 && strcmp(seg[3], "v1") == 0 &&
                strcmp(seg[4], "apps") == 0 && strcmp(seg[6], "appBackups") == 0;
  const char *allowed = NULL;
  if (core && n <= 6) allowed = "GET";
  else if (backups && n == 7) allowed = "GET POST";
  else if (backups && n == 8) allowed = "GET";
  if (!allowed) {
    sim_astra_problem(rq, 404, 2, "Collection not found",
                      "The collection specified in the request URI wasn't found.", NULL);
  } else if (!sim_method_allowed(rq, allowed)) {
    as_error(rq, 405, "The method is not allowed on this resource.");
  } else if (authorised(rq, seg[1])) {
    route(rq, seg, n, core);
  }
  sim_segments_free(seg, n);
}

static json_t *create(json_t *spec, char *err, size_t errsize)
{
  char id[40], rid[40], uri[256];
  const char *given = json_string_value(json_object_get(spec, "id"));
  const char *name = json_string_value(json_object_get(spec, "name"));
  const char *parent = json_string_value(json_object_get(spec, "parentTaskID"));
  sim_rng_uuid(id);
  sim_rng_uuid(rid);
  sim_config_lock();
  snprintf(uri, sizeof uri, "/accounts/%s/k8s/v1/apps/%s/appBackups/%s", sim_cfg.astra_account,
           SIM_NOBODY, rid);
  sim_config_unlock();
  json_t *fields = task_fields(given ? given : id, name ? name : "astra.backup", "Backup",
                               "Task to take a Backup for an application", parent, rid, uri);
  sim_store_lock();
  sim_task *t = sim_task_from_spec(SIM_ASTRA, spec, "", given ? given : id, fields,
                                   json_loads(default_steps, 0, NULL), err, errsize);
  json_t *view = t ? sim_task_describe(t) : NULL;
  sim_store_unlock();
  return view;
}

const sim_vendor sim_astra = { SIM_ASTRA, NULL, "/accounts/", handle, as_error, create };
