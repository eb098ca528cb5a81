/* Replies are plain data until the server hands them to MHD, so handlers stay testable and
 * faults can rewrite a reply after a handler has built it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "reply.h"

void sim_reply_clear(sim_reply *r)
{
  free(r->body);
  for (int i = 0; i < r->n_headers; i++) {
    free(r->headers[i].name);
    free(r->headers[i].value);
  }
  memset(r, 0, sizeof *r);
}

void sim_reply_bytes(sim_request *rq, int status, const char *ctype, const char *data,
                     size_t len)
{
  sim_reply *r = &rq->reply;
  free(r->body);
  r->body = malloc(len + 1);
  if (r->body) {
    if (len) memcpy(r->body, data, len);
    r->body[len] = '\0';
    r->body_len = len;
  } else {
    r->body_len = 0;
  }
  r->status = status;
  r->content_type = ctype;
}

void sim_reply_text(sim_request *rq, int status, const char *ctype, const char *text)
{
  sim_reply_bytes(rq, status, ctype, text, strlen(text));
}

void sim_reply_json(sim_request *rq, int status, const char *ctype, json_t *json)
{
  char *text = json_dumps(json, JSON_COMPACT);
  json_decref(json);
  sim_reply_text(rq, status, ctype ? ctype : "application/json", text ? text : "null");
  free(text);
}

void sim_reply_header(sim_request *rq, const char *name, const char *value)
{
  sim_reply *r = &rq->reply;
  if (r->n_headers >= SIM_MAX_REPLY_HEADERS) return;
  r->headers[r->n_headers].name = strdup(name);
  r->headers[r->n_headers].value = strdup(value);
  r->n_headers++;
}

const char *sim_request_header(sim_request *rq, const char *name)
{
  return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
  json_t *obj = cls;
  char name[256];
  size_t n = 0;
  (void)kind;
  for (; key[n] && n < sizeof name - 1; n++) name[n] = (char)tolower((unsigned char)key[n]);
  name[n] = '\0';
  value = value ? value : "";
  /* A repeated header reads as one comma-joined value, as RFC 9110 allows. */
  const char *prev = json_string_value(json_object_get(obj, name));
  if (prev) {
    size_t len = strlen(prev) + strlen(value) + 3;
    char *joined = malloc(len);
    if (joined) {
      strcpy(joined, prev);
      strcat(joined, ", ");
      strcat(joined, value);
      json_object_set_new(obj, name, json_string(joined));
      free(joined);
    }
  } else {
    json_object_set_new(obj, name, json_string(value));
  }
  return MHD_YES;
}

json_t *sim_request_headers(sim_request *rq)
{
  json_t *obj = json_object();
  MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, collect_header, obj);
  return obj;
}

json_t *sim_request_json(sim_request *rq)
{
  if (!rq->body || rq->body_len == 0) return NULL;
  return json_loadb(rq->body, rq->body_len, JSON_DECODE_ANY, NULL);
}
