/* NetApp BlueXP backup and recovery (docs.netapp.com/us-en/bluexp-automation/cbs): restores
 * answer 202 {"job-id"}, jobs carry time as epoch milliseconds, x-agent-id is required, errors
 * are {"error","message"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "reply.h"
#include "store.h"
#include "util.h"
#include "vendor.h"

static const char *const job_states[] = { "PENDING", "IN_PROGRESS", "COMPLETED", NULL };

static const char *error_name(int status)
{
  switch (status) {
  case 400: return "BadRequest";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "NotFound";
  case 405: return "MethodNotAllowed";
  case 409: return "Conflict";
  case 413: return "PayloadTooLarge";
  case 429: return "TooManyRequests";
  case 503: return "ServiceUnavailable";
  default: return status >= 500 ? "InternalServerError" : "BadRequest";
  }
}

static void bx_error(sim_request *rq, int status, const char *message)
{
  sim_reply_json(rq, status, NULL, json_pack("{s:s,s:s}", "error", error_name(status),
                                             "message", message));
}

static json_t *render(sim_task *t, json_t *step)
{
  json_t *obj = json_pack("{s:s,s:O,s:O}", "id", t->id, "working-environment-id",
                          json_object_get(t->fields, "working-environment-id"),
                          "type", json_object_get(t->fields, "type"));
  if (!obj) obj = json_pack("{s:s}", "id", t->id);
  sim_step_apply(obj, step, "status");
  json_object_update_missing(obj, t->fields);
  return obj;
}

static int job_object(sim_task *t)
{
  if (t->shape >= 0) return t->shape;
  sim_config_lock();
  int o = sim_cfg.bluexp_job_object;
  sim_config_unlock();
  return o;
}

static void get_job(sim_request *rq, const char *id)
{
  sim_store_lock();
  sim_task *t = sim_store_find(SIM_BLUEXP, SIM_KIND_TASK, "", id);
  json_t *step = t ? sim_task_step(t, 1) : NULL;
  json_t *job = (step && strcmp(sim_step_state(step), "gone") != 0) ? render(t, step) : NULL;
  int object = job ? job_object(t) : 0;
  sim_store_unlock();
  if (!job) bx_error(rq, 404, "job not found");
  else sim_reply_json(rq, 200, NULL, json_pack(object ? "{s:o}" : "{s:[o]}", "job", job));
}

/* Lists jobs whose type starts with type_prefix and (if given) whose status is status. */
static void list_jobs(sim_request *rq, const char *type_prefix, const char *status)
{
  json_t *jobs = json_array();
  sim_store_lock();
  for (sim_task *t = sim_store_next(NULL); t; t = sim_store_next(t)) {
    if (t->provider != SIM_BLUEXP) continue;
    const char *type = json_string_value(json_object_get(t->fields, "type"));
    if (type_prefix && (!type || strncmp(type, type_prefix, strlen(type_prefix)) != 0)) continue;
    json_t *step = sim_task_step(t, 0);
    const char *state = sim_step_state(step);
    if (strcmp(state, "gone") == 0 || (status && strcmp(state, status) != 0)) continue;
    t->reads++;
    json_array_append_new(jobs, render(t, step));
  }
  sim_store_unlock();
  sim_reply_json(rq, 200, NULL, json_pack("{s:o}", "job", jobs));
}

/* Checks a restore body the way the API documents it; returns a message, or NULL if fine. */
static const char *restore_problem(json_t *body, int version)
{
  json_t *restore = json_object_get(body, "restore");
  if (!json_is_object(body)) return "the body must be a JSON object";
  if (!json_is_object(restore)) return "restore is required";
  if (!json_is_string(json_object_get(restore, "type"))) return "restore.type is required";
  if (!json_is_object(json_object_get(restore, "source"))) return "restore.source is required";
  if (!json_is_object(json_object_get(restore, "target"))) return "restore.target is required";
  json_t *files = json_object_get(restore, "file");
  if (files && !json_is_array(files)) return "restore.file must be an array";
  if (version == 1 && json_array_size(files) > 8) return "v1 restores at most 8 files";
  const char *type = json_string_value(json_object_get(restore, "type"));
  if (version < 3 && strcmp(type, "folder") == 0) return "folder restore needs api/v3";
  return NULL;
}

static void start_restore(sim_request *rq, int version)
{
  char id[40];
  json_t *body = sim_request_json(rq);
  const char *problem = restore_problem(body, version);
  if (problem) {
    json_decref(body);
    bx_error(rq, 400, problem);
    return;
  }
  json_t *restore = json_object_get(body, "restore");
  json_t *we = json_object_get(json_object_get(restore, "target"), "working-environment-id");
  char type[64];
  snprintf(type, sizeof type, "restore-%s", json_string_value(json_object_get(restore, "type")));
  sim_rng_uuid(id);
  json_t *fields = json_pack("{s:o,s:s,s:s,s:I,s:{s:O}}", "working-environment-id",
                             json_is_string(we) ? json_incref(we) : json_string(""), "type", type,
                             "error", "", "time", (json_int_t)sim_epoch_ms(),
                             "data", "restore", restore);
  json_decref(body);
  sim_store_lock();
  sim_store_add(SIM_BLUEXP, SIM_KIND_TASK, "", id, fields, sim_steps_of(job_states));
  sim_store_unlock();
  sim_reply_json(rq, 202, NULL, json_pack("{s:s}", "job-id", id));
}

/* Bearer token, then account, then the Connector's agent ID. */
static int admitted(sim_request *rq, const char *account)
{
  sim_auth a = sim_check_bearer(rq, SIM_BLUEXP);
  const char *agent = sim_request_header(rq, "x-agent-id");
  if (a != SIM_AUTH_OK) {
    bx_error(rq, 401, a == SIM_AUTH_MISSING   ? "missing bearer token"
                      : a == SIM_AUTH_EXPIRED ? "token expired"
                                              : "invalid token");
    return 0;
  }
  sim_config_lock();
  int account_ok = strcmp(account, sim_cfg.bluexp_account) == 0;
  int agent_ok = agent && strcmp(agent, sim_cfg.bluexp_agent) == 0;
  sim_config_unlock();
  if (!account_ok) bx_error(rq, 403, "the token has no access to this account");
  else if (!agent || !*agent) bx_error(rq, 400, "the x-agent-id header is required");
  else if (!agent_ok) bx_error(rq, 403, "unknown x-agent-id: use the Connector ID with its "
                               "\"clients\" suffix");
  return account_ok && agent_ok;
}

static int restore_version(const char *seg)
{
  return strcmp(seg, "v1") == 0 ? 1 : strcmp(seg, "v2") == 0 ? 2 : strcmp(seg, "v3") == 0 ? 3
                                                                                          : 0;
}

/* Routes under account/{a}/providers/cloudmanager_cbs/api/: v1/restore/status, v1/job,
 * v1/job/{id}, v1|v2|v3/restore. */
static void handle(sim_request *rq)
{
  char *seg[8];
  int n = sim_split_path(rq->path, seg, 8);
  int base = n >= 6 && strcmp(seg[2], "providers") == 0 &&
             strcmp(seg[3], "cloudmanager_cbs") == 0 && strcmp(seg[4], "api") == 0;
  int version = base ? restore_version(seg[5]) : 0;
  const char *route = NULL, *allowed = NULL;
  if (version == 1 && n == 8 && !strcmp(seg[6], "restore") && !strcmp(seg[7], "status")) {
    route = "status";
    allowed = "GET";
  } else if (version == 1 && n == 7 && !strcmp(seg[6], "job")) {
    route = "jobs";
    allowed = "GET";
  } else if (version == 1 && n == 8 && !strcmp(seg[6], "job")) {
    route = "job";
    allowed = "GET";
  } else if (version && n == 7 && !strcmp(seg[6], "restore")) {
    route = "restore";
    allowed = "POST";
  }
  if (!route) {
    bx_error(rq, 404, "not found");
  } else if (!sim_method_allowed(rq, allowed)) {
    bx_error(rq, 405, "method not allowed");
  } else if (admitted(rq, seg[1])) {
    if (!strcmp(route, "status")) {
      list_jobs(rq, "restore", NULL);
    } else if (!strcmp(route, "job")) {
      get_job(rq, seg[7]);
    } else if (!strcmp(route, "restore")) {
      start_restore(rq, version);
    } else {
      char *type = sim_query_get(rq->query, "type", 0);
      char *status = sim_query_get(rq->query, "status", 0);
      list_jobs(rq, type, status);
      free(type);
      free(status);
    }
  }
  sim_segments_free(seg, n);
}

static json_t *create(json_t *spec, char *err, size_t errsize)
{
  char id[40];
  const char *given = json_string_value(json_object_get(spec, "id"));
  const char *type = json_string_value(json_object_get(spec, "type"));
  sim_rng_uuid(id);
  json_t *fields = json_pack(
      "{s:s,s:s,s:s,s:I,s:{s:{s:s,s:{s:s,s:s},s:{s:s,s:s}}}}",
      "working-environment-id", "VsaWorkingEnvironment-sim00001",
      "type", type ? type : "restore-volume", "error", "", "time", (json_int_t)sim_epoch_ms(),
      "data", "restore", "type", "volume", "source", "volume-name", "vol1", "snapshot",
      "daily.0", "target", "svm", "svm1", "volume-name", "vol1_restore");
  sim_store_lock();
  sim_task *t = sim_task_from_spec(SIM_BLUEXP, spec, "", given ? given : id, fields,
                                   sim_steps_of(job_states), err, errsize);
  json_t *view = t ? sim_task_describe(t) : NULL;
  sim_store_unlock();
  return view;
}

const sim_vendor sim_bluexp = { SIM_BLUEXP, NULL, "/account/", handle, bx_error, create };
