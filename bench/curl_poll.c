/* libcurl alone, for bench/poll.sh and bench/poll_profile.sh: the floor under taskrun's cost
 * per request (one at a time for a sequential poll; 32 at once for bench/fanout.lua's). Makes
 * N GETs of one URL the way taskrun's HTTP layer must (with taskrun's allocator, mimalloc; a new
 * easy handle per request, on one multi handle that keeps the connections; the same request
 * headers taskrun sends: Accept, Authorization, x-agent-id, User-Agent, Accept-Encoding), keeps
 * each body in memory, and parses nothing: one at a time, or INFLIGHT at once (a new one
 * started as each ends, as taskrun's per-host limit does). Prints "curl N wall_s cpu_s", after
 * one untimed request (the connection).
 *   build/bench/curl_poll URL N AUTH_HEADER AGENT_HEADER [INFLIGHT]
 * (Why a new handle each time: libcurl 7.88 reused one can corrupt the heap on a response whose
 * first header line is folded, curl #11101; taskrun never reuses them.) */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  char *p;
  size_t n;
} body;

static size_t on_data(char *data, size_t size, size_t count, void *userp) {
  body *b = userp;
  size_t len = size * count;
  char *grown = realloc(b->p, b->n + len);
  if (!grown) return 0;
  memcpy(grown + b->n, data, len);
  b->p = grown;
  b->n += len;
  return len;
}

static double seconds(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts one GET on the multi handle; its body goes to a `body` of its own (CURLOPT_PRIVATE). */
static int start(CURLM *multi, const char *url, struct curl_slist *headers) {
  CURL *easy = curl_easy_init();
  body *b = calloc(1, sizeof *b);
  if (!easy || !b) {
    curl_easy_cleanup(easy);
    free(b);
    return -1;
  }
  curl_easy_setopt(easy, CURLOPT_URL, url);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "taskrun/bench");
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, b);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, b);
  return curl_multi_add_handle(multi, easy) == CURLM_OK ? 0 : -1;
}

/* n GETs, `inflight` at a time; returns how many did not answer 200. */
static long run(CURLM *multi, const char *url, struct curl_slist *headers, long n, long inflight) {
  long started = 0, failed = 0;
  int running = 0;
  while (started < n && started < inflight) {
    if (start(multi, url, headers) != 0) return n;
    started++;
  }
  do {
    if (curl_multi_perform(multi, &running) != CURLM_OK) return n;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      long status = -1;
      body *b = NULL;
      if (msg->data.result == CURLE_OK)
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&b);
      if (status != 200) failed++;
      CURL *easy = msg->easy_handle;
      curl_multi_remove_handle(multi, easy);
      curl_easy_cleanup(easy);
      if (b) free(b->p);
      free(b);
      if (started < n) {
        if (start(multi, url, headers) != 0) return n;
        started++;
        running++;
      }
    }
    if (running) curl_multi_poll(multi, NULL, 0, 1000, NULL);
  } while (running);
  return failed;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: curl_poll URL N AUTH_HEADER AGENT_HEADER [INFLIGHT]\n");
    return 2;
  }
  long n = strtol(argv[2], NULL, 10);
  long inflight = argc == 6 ? strtol(argv[5], NULL, 10) : 1;
  if (n < 0 || inflight < 1) {
    fprintf(stderr, "curl_poll: N must be 0 or more and INFLIGHT 1 or more\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *multi = curl_multi_init();
  struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
  headers = curl_slist_append(headers, argv[3]);
  headers = curl_slist_append(headers, argv[4]);
  int code = 0;
  if (run(multi, argv[1], headers, 1, 1) != 0) {
    fprintf(stderr, "curl_poll: %s did not answer 200\n", argv[1]);
    code = 1;
  }
  double t0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
  long failed = code == 0 ? run(multi, argv[1], headers, n, inflight) : 0;
  if (failed) {
    fprintf(stderr, "curl_poll: %ld of %ld requests did not answer 200\n", failed, n);
    code = 1;
  }
  if (code == 0)
    printf("curl %ld %.3f %.3f\n", n, seconds(CLOCK_MONOTONIC) - t0,
           seconds(CLOCK_PROCESS_CPUTIME_ID) - c0);
  curl_slist_free_all(headers);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return code;
}
