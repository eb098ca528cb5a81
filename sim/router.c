/* Admin calls are answered first and never faulted or logged: they are the spec's own voice.
 * Everything else draws its faults, is answered, and is logged with the reply it got. */
#include <stdio.h>
#include <string.h>
#include "admin.h"
#include "faults.h"
#include "reply.h"
#include "reqlog.h"
#include "router.h"
#include "testing.h"
#include "util.h"
#include "vendor.h"

static const sim_vendor *const vendors[] = { &sim_redpanda, &sim_keycard, &sim_astra,
                                             &sim_bluexp, &sim_redpanda_auth,
                                             &sim_keycard_auth, &sim_bluexp_auth };

static const sim_vendor *vendor_for(const char *path)
{
  for (size_t i = 0; i < sizeof vendors / sizeof vendors[0]; i++) {
    if (strncmp(path, vendors[i]->prefix, strlen(vendors[i]->prefix)) == 0) return vendors[i];
  }
  return NULL;
}

static void plain_error(sim_request *rq, int status, const char *message)
{
  sim_reply_json(rq, status, NULL, json_pack("{s:s}", "error", message));
}

static void error_reply(sim_request *rq, const sim_vendor *v, int status, const char *msg)
{
  if (v) v->error(rq, status, msg);
  else plain_error(rq, status, msg);
}

static const char *reason(int status)
{
  switch (status) {
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Server Error";
  }
}

/* Faults that replace the reply entirely: the handler never runs, so no task moves on. */
static int replaces_reply(sim_fault_kind kind)
{
  return kind == SIM_FAULT_RATE_LIMIT || kind == SIM_FAULT_SERVER_ERROR ||
         kind == SIM_FAULT_DROP || kind == SIM_FAULT_EXPIRED_TOKEN ||
         kind == SIM_FAULT_BODY;
}

static void replace_reply(sim_request *rq, const sim_vendor *v, const sim_fault_pick *pick)
{
  char text[256];
  int status;
  switch (pick->kind) {
  case SIM_FAULT_RATE_LIMIT:
    error_reply(rq, v, pick->status ? pick->status : 429, "rate limit exceeded");
    if (pick->retry_after_date) {
      sim_http_date(sim_epoch_ms() / 1000 + pick->retry_after, text, sizeof text);
    } else {
      snprintf(text, sizeof text, "%ld", pick->retry_after);
    }
    sim_reply_header(rq, "Retry-After", text);
    break;
  case SIM_FAULT_SERVER_ERROR:
    /* What a load balancer in front of the API answers: HTML, not the vendor's JSON. */
    status = pick->status ? pick->status : 503;
    snprintf(text, sizeof text, "<html><head><title>%d %s</title></head><body><h1>%d %s</h1>"
             "<p>upstream unavailable</p></body></html>\n", status, reason(status), status,
             reason(status));
    sim_reply_text(rq, status, "text/html", text);
    break;
  case SIM_FAULT_DROP:
    rq->reply.action = SIM_DROP;
    break;
  case SIM_FAULT_BODY:
    sim_reply_text(rq, pick->status ? pick->status : 200, "application/json",
                   pick->body ? pick->body : "");
    break;
  default:
    error_reply(rq, v, 401, "token expired");
    break;
  }
}

/* Faults that spoil a reply the handler built: the task did move on, the client just could
 * not read about it. */
static void spoil_reply(sim_request *rq, const sim_fault_pick *pick)
{
  static const char filler[] = "{\"partial\":\"this body never arrives in full\"}";
  sim_reply *r = &rq->reply;
  if (pick->status) r->status = pick->status;
  if (r->body_len < 2) sim_reply_text(rq, r->status, "application/json", filler);
  if (pick->kind == SIM_FAULT_MALFORMED_JSON) {
    r->body_len /= 2;
    r->body[r->body_len] = '\0';
    r->content_type = "application/json";
  } else {
    r->action = SIM_STALL;
  }
}

void sim_dispatch(sim_request *rq)
{
  if (strncmp(rq->path, "/_sim/", 6) == 0 && sim_admin_handle(rq)) return;
  const sim_vendor *v = vendor_for(rq->path);
  const char *provider = !v ? NULL : v->label ? v->label : sim_provider_name(v->provider);
  sim_fault_pick pick;
  sim_faults_pick(provider, rq->method, rq->path, &pick);
  if (pick.has_fault) rq->reply.fault = sim_fault_name(pick.kind);
  else if (pick.latency_ms) rq->reply.fault = sim_fault_name(SIM_FAULT_LATENCY);
  if (pick.has_fault && replaces_reply(pick.kind)) {
    replace_reply(rq, v, &pick);
  } else if (rq->body_too_large) {
    error_reply(rq, v, 413, "request body too large");
  } else {
    if (v) {
      v->handle(rq);
    } else if (!sim_testing_handle(rq)) {
      plain_error(rq, 404, "no such path");
    }
    if (pick.has_fault && rq->reply.action == SIM_SEND) spoil_reply(rq, &pick);
  }
  rq->reply.delay_ms += pick.latency_ms;
  sim_fault_pick_free(&pick);
  sim_reqlog_record(rq, provider);
}
