/* --ping: one blocking libcurl transfer per ping, at the run's start and end, when the loop is
 * not running yet or any more; bounded by its timeout, so a dead endpoint delays a cron job by
 * that much at most and never hangs it. A ping is monitoring, not the run: its failure is a
 * warning, never an exit code. */
#include "ping.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "secrets.h"
#include "signals.h"
#include "timer.h"

/* Tries per ping, and the pause between two: healthchecks.io's own advice is to retry, since a
 * lost ping reads as a failed job. */
#define PING_TRIES 3
#define PING_PAUSE 1.0

int tr_ping_check(const char *url, char *err, size_t n) {
  CURLU *u = curl_url();
  char *scheme = NULL;
  int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
           curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
           (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
  if (!ok) snprintf(err, n, "bad --ping URL: give an http or https URL, like "
                    "https://hc-ping.com/<uuid>");
  curl_free(scheme);
  curl_url_cleanup(u);
  return ok ? 0 : -1;
}

/* Where the URL's path begins: just past "scheme://authority". */
static const char *path_of(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  const char *slash = strpbrk(p, "/?#");
  return slash ? slash : p + strlen(p);
}

/* A piece of the path long enough to be a key: a check's UUID is 36 characters, a project's
 * ping key 22. Shorter ones ("ping", a slug like "db") would mask words everywhere. */
#define KEY_MIN 16

void tr_ping_secret(const char *url) {
  tr_log_add_secret(url);
  /* The path names the check, and so does each key in it, alone. */
  const char *path = path_of(url);
  size_t len = strcspn(path, "?#");
  if (len >= KEY_MIN) tr_secret_add(path, len);
  for (const char *p = path; p < path + len;) {
    size_t seg = strcspn(p, "/?#");
    if (seg >= KEY_MIN) tr_secret_add(p, seg);
    p += seg + 1;
  }
}

/* "https://hc-ping.com/[REDACTED]/start": where a ping went, for a person, without the key. */
static void display(char *buf, size_t n, const char *url, const char *suffix) {
  const char *path = path_of(url);
  int host = (int)(path - url);
  snprintf(buf, n, "%.*s/" TR_REDACTED "%s", host < 200 ? host : 200, url, suffix);
}

/* The URL of one ping: the path with `suffix` appended (one '/' between), ?rid=RID added to
 * the query. NULL out of memory. */
static char *ping_url(const char *url, const char *suffix, const char *rid) {
  CURLU *u = curl_url();
  char *path = NULL, *full = NULL;
  if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
    goto done;
  size_t len = strlen(path);
  while (len > 0 && path[len - 1] == '/') len--;
  char *joined = malloc(len + strlen(suffix) + 1);
  if (!joined) goto done;
  memcpy(joined, path, len);
  strcpy(joined + len, suffix);
  char query[64];
  snprintf(query, sizeof query, "rid=%s", rid);
  if (curl_url_set(u, CURLUPART_PATH, *joined ? joined : "/", 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_QUERY, query, CURLU_APPENDQUERY) == CURLUE_OK)
    curl_url_get(u, CURLUPART_URL, &full, 0);
  free(joined);
done:
  curl_free(path);
  curl_url_cleanup(u);
  return full;
}

/* The start of the answer, for the warning when it is not a 2xx; the rest is dropped. */
typedef struct {
  char text[160];
  size_t n;
} answer;

static size_t on_body(char *p, size_t size, size_t nmemb, void *data) {
  answer *a = data;
  size_t len = size * nmemb;
  size_t room = sizeof a->text - 1 - a->n;
  size_t take = len < room ? len : room;
  memcpy(a->text + a->n, p, take);
  a->n += take;
  a->text[a->n] = '\0';
  return len;
}

/* The answer's first line, as printable ASCII, for a log line. */
static void first_line(char *s) {
  for (char *p = s; *p; p++) {
    if (*p == '\r' || *p == '\n') { *p = '\0'; break; }
    if ((unsigned char)*p < ' ' || (unsigned char)*p > '~') *p = '?';
  }
}

/* One POST within `timeout` seconds. Returns the HTTP status, or 0 with why in err. */
static long post(const char *url, const char *body, size_t len, double timeout, answer *a,
                 char *err) {
  CURL *e = curl_easy_init();
  if (!e) {
    snprintf(err, CURL_ERROR_SIZE, "out of memory");
    return 0;
  }
  struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
  long ms = (long)(timeout * 1000);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "taskrun/" TR_VERSION);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
  /* As taskrun.http trusts it: besides the system's CAs. */
  const char *bundle = getenv("TASKRUN_CA_BUNDLE");
  if (bundle && *bundle && access(bundle, R_OK) == 0) {
    curl_easy_setopt(e, CURLOPT_CAINFO, bundle);
    curl_easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  err[0] = '\0';
  CURLcode rc = curl_easy_perform(e);
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  else if (!err[0]) snprintf(err, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
  curl_slist_free_all(headers);
  curl_easy_cleanup(e);
  return status;
}

static void pause_for(double seconds) {
  struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !tr_signals_pending()) {}
}

int tr_ping_send(const char *url, const char *suffix, const char *rid, const char *body,
                 size_t len, double timeout) {
  char where[300];
  display(where, sizeof where, url, suffix);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    tr_logf(TR_LOG_WARN, "ping %s not sent: libcurl did not start", where);
    return -1;
  }
  char *full = ping_url(url, suffix, rid);
  double end = tr_now() + timeout;
  char err[CURL_ERROR_SIZE];
  answer a = { { 0 }, 0 };
  long status = 0;
  int tries = 0;
  snprintf(err, sizeof err, "out of memory");
  while (full) {
    a.n = 0;
    a.text[0] = '\0';
    status = post(full, body, len, end - tr_now(), &a, err);
    tries++;
    int transient = status == 0 || status == 429 || status >= 500;
    double left = end - tr_now();
    if (!transient || tries == PING_TRIES || left <= PING_PAUSE || tr_signals_pending()) break;
    pause_for(PING_PAUSE);
  }
  curl_free(full);
  curl_global_cleanup();
  if (status >= 200 && status <= 299) {
    tr_logf(TR_LOG_DEBUG, "ping %s: %ld", where, status);
    return 0;
  }
  if (status) {
    first_line(a.text);
    tr_logf(TR_LOG_WARN, "ping %s answered %ld%s%s; the run's exit code is not changed by it",
            where, status, a.text[0] ? ": " : "", a.text);
  } else {
    tr_logf(TR_LOG_WARN, "ping %s failed after %d tr%s: %s; the run's exit code is not changed "
            "by it", where, tries, tries == 1 ? "y" : "ies", err);
  }
  return -1;
}
