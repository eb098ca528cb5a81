/* Each endpoint is one small function; the table at the bottom maps paths to them. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "reply.h"
#include "server.h"
#include "testing.h"
#include "util.h"

#define SIM_MAX_BYTES (64L * 1024 * 1024)

static void plain_error(sim_request *rq, int status, const char *message)
{
  sim_reply_json(rq, status, NULL, json_pack("{s:s}", "error", message));
}

static int is_method(sim_request *rq, const char *method)
{
  if (strcmp(rq->method, method) == 0) return 1;
  plain_error(rq, 405, "method not allowed");
  sim_reply_header(rq, "Allow", method);
  return 0;
}

/* A query integer with a default; replies 400 and returns -1 when it is malformed. */
static int query_long(sim_request *rq, const char *key, long def, long min, long max,
                      long *out)
{
  char *text = sim_query_get(rq->query, key, 0);
  *out = def;
  int bad = text && sim_parse_long(text, min, max, out) != 0;
  free(text);
  if (bad) {
    plain_error(rq, 400, "bad query parameter");
    return -1;
  }
  return 0;
}

static void do_echo(sim_request *rq)
{
  json_t *obj = json_object();
  json_object_set_new(obj, "method", json_string(rq->method));
  json_object_set_new(obj, "path", sim_json_text(rq->path, strlen(rq->path)));
  json_object_set_new(obj, "query", sim_json_text(rq->query, strlen(rq->query)));
  json_object_set_new(obj, "headers", sim_request_headers(rq));
  json_object_set_new(obj, "body", sim_json_text(rq->body ? rq->body : "", rq->body_len));
  sim_reply_json(rq, 200, NULL, obj);
}

static void do_delay(sim_request *rq)
{
  long ms;
  if (!is_method(rq, "GET") || query_long(rq, "ms", 0, 0, 600000, &ms) != 0) return;
  json_int_t inflight = (json_int_t)rq->inflight_at_arrival;
  sim_reply_json(rq, 200, NULL, json_pack("{s:I}", "inflight", inflight));
  rq->reply.delay_ms = (unsigned)ms;
}

static void do_stats(sim_request *rq)
{
  if (!is_method(rq, "GET")) return;
  sim_stats st;
  sim_stats_get(&st);
  sim_reply_json(rq, 200, NULL, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}",
                                          "requests", (json_int_t)st.requests,
                                          "inflight", (json_int_t)st.inflight,
                                          "max_inflight", (json_int_t)st.max_inflight,
                                          "connections", (json_int_t)st.connections,
                                          "open_connections", (json_int_t)st.open_connections,
                                          "max_open_connections",
                                          (json_int_t)st.max_open_connections));
}

static void do_stats_reset(sim_request *rq)
{
  if (!is_method(rq, "POST")) return;
  sim_stats_reset();
  sim_reply_json(rq, 200, NULL, json_pack("{s:b}", "ok", 1));
}

static void do_status(sim_request *rq)
{
  long code;
  if (query_long(rq, "code", 200, 200, 599, &code) != 0) return;
  char *body = sim_query_get(rq->query, "body", 0);
  sim_reply_text(rq, (int)code, "text/plain", body ? body : "");
  free(body);
  char *h;
  for (int i = 0; (h = sim_query_get(rq->query, "header", i)) != NULL; i++) {
    char *colon = strchr(h, ':');
    if (colon && colon != h) {
      *colon = '\0';
      const char *value = colon + 1;
      while (*value == ' ') value++;
      if (strcasecmp(h, "Content-Type") == 0) rq->reply.content_type = NULL;
      sim_reply_header(rq, h, value);
    }
    free(h);
  }
}

static void do_bytes(sim_request *rq)
{
  long n;
  if (!is_method(rq, "GET") || query_long(rq, "n", 0, 0, SIM_MAX_BYTES, &n) != 0) return;
  char *data = malloc((size_t)n + 1);
  if (!data) {
    plain_error(rq, 500, "out of memory");
    return;
  }
  for (long i = 0; i < n; i++) data[i] = (char)('a' + i % 26);
  sim_reply_bytes(rq, 200, "application/octet-stream", data, (size_t)n);
  free(data);
}

static void do_drop(sim_request *rq)
{
  rq->reply.status = 200;
  rq->reply.action = SIM_DROP;
}

static void do_stall(sim_request *rq)
{
  sim_reply_text(rq, 200, "application/json",
                 "{\"data\":\"the first half of this body arrives, the rest never does\"}");
  rq->reply.action = SIM_STALL;
}

static void do_redirect(sim_request *rq)
{
  long code;
  if (query_long(rq, "code", 302, 300, 399, &code) != 0) return;
  char *to = sim_query_get(rq->query, "to", 0);
  if (!to || !*to) {
    free(to);
    plain_error(rq, 400, "to= is required");
    return;
  }
  sim_reply_text(rq, (int)code, NULL, "");
  sim_reply_header(rq, "Location", to);
  free(to);
}

typedef struct {
  const char *path;
  int prefix;           /* also answers path + "/..." */
  void (*fn)(sim_request *rq);
} sim_test_route;

static const sim_test_route routes[] = {
  { "/_sim/echo", 1, do_echo },
  { "/_sim/delay", 0, do_delay },
  { "/_sim/stats", 0, do_stats },
  { "/_sim/stats/reset", 0, do_stats_reset },
  { "/_sim/status", 0, do_status },
  { "/_sim/bytes", 0, do_bytes },
  { "/_sim/drop", 0, do_drop },
  { "/_sim/stall", 0, do_stall },
  { "/_sim/redirect", 0, do_redirect },
};

int sim_testing_handle(sim_request *rq)
{
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    size_t n = strlen(routes[i].path);
    if (strncmp(rq->path, routes[i].path, n) != 0) continue;
    if (rq->path[n] == '\0' || (routes[i].prefix && rq->path[n] == '/')) {
      routes[i].fn(rq);
      return 1;
    }
  }
  return 0;
}
