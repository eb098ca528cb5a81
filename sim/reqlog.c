/* Entries are stored as serialised lines: a busy benchmark then costs one string per request,
 * and the file and the memory copy can never disagree. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "reply.h"
#include "reqlog.h"
#include "util.h"

#define SIM_LOG_KEEP 10000
#define SIM_LOG_BODY 65536

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *ring[SIM_LOG_KEEP];
static size_t ring_start, ring_count;
static unsigned long seq;
static FILE *file;

int sim_reqlog_open(const char *path)
{
  file = fopen(path, "a");
  return file ? 0 : -1;
}

void sim_reqlog_close(void)
{
  sim_reqlog_clear();
  if (file) fclose(file);
  file = NULL;
}

void sim_reqlog_clear(void)
{
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < ring_count; i++) free(ring[(ring_start + i) % SIM_LOG_KEEP]);
  ring_start = ring_count = 0;
  pthread_mutex_unlock(&lock);
}

/* Credentials never leave the process: the scheme stays so specs can check it was sent
 * (a Keycard token request's "Basic [redacted]"). */
static void redact_headers(json_t *headers)
{
  static const char *secret[] = { "authorization", "proxy-authorization", "cookie",
                                  "x-api-key", NULL };
  for (int i = 0; secret[i]; i++) {
    const char *v = json_string_value(json_object_get(headers, secret[i]));
    if (!v) continue;
    const char *space = strchr(v, ' ');
    char redacted[64];
    if (space && space - v < 32 && i < 2) {
      snprintf(redacted, sizeof redacted, "%.*s [redacted]", (int)(space - v), v);
    } else {
      snprintf(redacted, sizeof redacted, "[redacted]");
    }
    json_object_set_new(headers, secret[i], json_string(redacted));
  }
}

/* Fields that carry a credential in a token request (RFC 6749) or its answer. */
static const char *const secret_fields[] = { "client_secret", "refresh_token", "access_token",
                                             "client_assertion", "password", NULL };

static int mentions_secret(const char *s, size_t n)
{
  for (int i = 0; secret_fields[i]; i++) {
    if (memmem(s, n, secret_fields[i], strlen(secret_fields[i]))) return 1;
  }
  return 0;
}

static int is_secret_field(const char *name)
{
  for (int i = 0; secret_fields[i]; i++) {
    if (strcmp(name, secret_fields[i]) == 0) return 1;
  }
  return 0;
}

/* key=value&...: the value of every secret field becomes [redacted]. */
static json_t *redact_form(const char *s, size_t n)
{
  char *out = malloc(n + 16 * (n / 2 + 1));
  size_t k = 0;
  for (size_t i = 0; out && i < n;) {
    const char *amp = memchr(s + i, '&', n - i);
    size_t end = amp ? (size_t)(amp - s) : n;
    const char *eq = memchr(s + i, '=', end - i);
    char *key = strndup(s + i, eq ? (size_t)(eq - s) - i : end - i);
    if (key) sim_url_decode(key);
    if (key && eq && is_secret_field(key)) {
      k += (size_t)sprintf(out + k, "%.*s=[redacted]", (int)((size_t)(eq - s) - i), s + i);
    } else {
      memcpy(out + k, s + i, end - i);
      k += end - i;
    }
    free(key);
    if (amp) out[k++] = '&';
    i = end + (amp ? 1 : 0);
  }
  json_t *text = out ? sim_json_text(out, k) : json_string("[redacted]");
  free(out);
  return text;
}

static void redact_json(json_t *v)
{
  const char *name;
  json_t *item;
  size_t i;
  if (json_is_object(v)) {
    json_object_foreach(v, name, item) {
      if (is_secret_field(name)) json_object_set_new(v, name, json_string("[redacted]"));
      else redact_json(item);
    }
  } else if (json_is_array(v)) {
    json_array_foreach(v, i, item) redact_json(item);
  }
}

/* The text as logged: a token request's secrets (form or JSON) never reach the log. Text that
 * names a secret field but is neither JSON nor a form is left out whole. */
static json_t *logged_text(const char *s, size_t n, const char *ctype)
{
  if (!mentions_secret(s, n)) return sim_json_text(s, n);
  json_t *doc = json_loadb(s, n, 0, NULL);
  if (doc) {
    redact_json(doc);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    json_t *out = text ? json_string(text) : json_string("[redacted]");
    free(text);
    return out;
  }
  if (!ctype || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0) {
    return redact_form(s, n);
  }
  return json_string("[redacted: holds a credential field]");
}

void sim_reqlog_record(sim_request *rq, const char *provider)
{
  char when[40];
  sim_rfc3339(sim_epoch_ms(), when, sizeof when);
  json_t *headers = sim_request_headers(rq);
  redact_headers(headers);
  json_t *entry = json_pack("{s:s,s:s,s:o,s:o,s:o}", "time", when, "method", rq->method,
                            "path", sim_json_text(rq->path, strlen(rq->path)),
                            "query", logged_text(rq->query, strlen(rq->query), NULL),
                            "headers", headers);
  if (!entry) return;
  if (provider) json_object_set_new(entry, "provider", json_string(provider));
  if (rq->reply.action == SIM_DROP) json_object_set_new(entry, "status", json_null());
  else json_object_set_new(entry, "status", json_integer(rq->reply.status));
  if (rq->reply.fault) json_object_set_new(entry, "fault", json_string(rq->reply.fault));
  /* The body as sent, so specs can check it; large bodies are cut, body_bytes says how big. */
  size_t keep = rq->body_len < SIM_LOG_BODY ? rq->body_len : SIM_LOG_BODY;
  json_object_set_new(entry, "body", logged_text(rq->body ? rq->body : "", keep,
                                                 sim_request_header(rq, "Content-Type")));
  json_object_set_new(entry, "body_bytes", json_integer((json_int_t)rq->body_len));
  pthread_mutex_lock(&lock);
  json_object_set_new(entry, "seq", json_integer((json_int_t)++seq));
  char *line = json_dumps(entry, JSON_COMPACT);
  json_decref(entry);
  if (line) {
    if (ring_count == SIM_LOG_KEEP) {
      free(ring[ring_start]);
      ring_start = (ring_start + 1) % SIM_LOG_KEEP;
      ring_count--;
    }
    ring[(ring_start + ring_count++) % SIM_LOG_KEEP] = line;
    if (file) {
      fputs(line, file);
      fputc('\n', file);
      fflush(file);
    }
  }
  pthread_mutex_unlock(&lock);
}

static int matches(json_t *entry, const char *key, const char *want)
{
  if (!want) return 1;
  const char *have = json_string_value(json_object_get(entry, key));
  return have && strcmp(have, want) == 0;
}

json_t *sim_reqlog_entries(const char *provider, const char *method, const char *path)
{
  json_t *out = json_array();
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < ring_count; i++) {
    json_t *entry = json_loads(ring[(ring_start + i) % SIM_LOG_KEEP], 0, NULL);
    if (entry && matches(entry, "provider", provider) && matches(entry, "method", method) &&
        matches(entry, "path", path)) {
      json_array_append_new(out, entry);
    } else {
      json_decref(entry);
    }
  }
  pthread_mutex_unlock(&lock);
  return out;
}
