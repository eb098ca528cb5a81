/* libcurl alone, for bench/poll.sh and bench/poll_profile.sh: the floor under taskrun's cost
 * per poll. Makes N sequential GETs of one URL the way taskrun's HTTP layer must (a new easy
 * handle per request, on one multi handle that keeps the connection; the same request headers
 * taskrun sends: Accept, Authorization, x-agent-id, User-Agent, Accept-Encoding), keeps each
 * body in memory, and parses nothing. Prints "curl N wall_s cpu_s", after one untimed request
 * (the connection).
 *   build/bench/curl_poll URL N AUTH_HEADER AGENT_HEADER
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

/* One GET to completion; returns its HTTP status, or -1. */
static long get(CURLM *multi, const char *url, struct curl_slist *headers) {
  CURL *easy = curl_easy_init();
  if (!easy) return -1;
  body b = { NULL, 0 };
  curl_easy_setopt(easy, CURLOPT_URL, url);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "taskrun/bench");
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &b);
  curl_multi_add_handle(multi, easy);
  int running = 1;
  while (running) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) break;
    if (running) curl_multi_poll(multi, NULL, 0, 1000, NULL);
  }
  long status = -1;
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(multi, &left)))
    if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK)
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(multi, easy);
  curl_easy_cleanup(easy);
  free(b.p);
  return status;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: curl_poll URL N AUTH_HEADER AGENT_HEADER\n");
    return 2;
  }
  long n = strtol(argv[2], NULL, 10);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *multi = curl_multi_init();
  struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
  headers = curl_slist_append(headers, argv[3]);
  headers = curl_slist_append(headers, argv[4]);
  int code = 0;
  if (get(multi, argv[1], headers) != 200) {
    fprintf(stderr, "curl_poll: %s did not answer 200\n", argv[1]);
    code = 1;
  }
  double t0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < n && code == 0; i++) {
    if (get(multi, argv[1], headers) != 200) {
      fprintf(stderr, "curl_poll: request %ld did not answer 200\n", i + 1);
      code = 1;
    }
  }
  if (code == 0)
    printf("curl %ld %.3f %.3f\n", n, seconds(CLOCK_MONOTONIC) - t0,
           seconds(CLOCK_PROCESS_CPUTIME_ID) - c0);
  curl_slist_free_all(headers);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return code;
}
