/* libFuzzer target: the HTTP response path, from raw bytes on a socket to what a runbook sees.
 * A loopback listener thread answers every connection with the input as the raw response and
 * closes it. A persistent taskrun host then runs, as a real task on the real loop and libcurl,
 * taskrun.http.get + res:json() and one call of each provider (vendor error parsing, Task
 * building, Keycard's 303). Every outcome must be a response or a taskrun error of a documented
 * kind, never a raw Lua error, a crash or a hang. */
#include <arpa/inet.h>
#include <lauxlib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "host.h"
#include "hostq.h"
#include "log.h"
#include "loop.h"
#include "run.h"

static lua_State *L;
static int listen_fd;
static char base_url[64];
/* The listener's own copy of the input, swapped under the lock: a connection libcurl gave up
 * on may still be answered while the next input starts. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *response;
static size_t response_len;

/* Reads the request head (and no more: these are GETs), then writes the response and closes. */
static void answer(int c) {
  char buf[8192];
  size_t got = 0;
  struct timeval tv = { 5, 0 };
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (got < sizeof buf - 1) {
    ssize_t n = recv(c, buf + got, sizeof buf - 1 - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
    buf[got] = '\0';
    if (strstr(buf, "\r\n\r\n")) break;
  }
  for (size_t off = 0; off < response_len;) {
    ssize_t n = send(c, response + off, response_len - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += (size_t)n;
  }
  shutdown(c, SHUT_WR);
  close(c);
}

static void *serve(void *arg) {
  for (;;) {
    int c = accept(listen_fd, NULL, NULL);
    if (c < 0) continue;
    pthread_mutex_lock(&lock);
    answer(c);
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

static void start_listener(void) {
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t alen = sizeof a;
  listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(listen_fd, 64) != 0 || getsockname(listen_fd, (struct sockaddr *)&a, &alen) != 0)
    tr_fuzz_die("cannot listen on loopback");
  snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", ntohs(a.sin_port));
  pthread_t t;
  if (pthread_create(&t, NULL, serve, NULL) != 0) tr_fuzz_die("cannot start the listener");
  pthread_detach(t);
}

/* The runbook: each call in a pcall; what it raises must be a documented taskrun error. */
static const char runbook[] =
  "local base = ...\n"
  "local http = require('taskrun.http')\n"
  "local kinds = { transport = 1, http = 1, auth = 1, not_found = 1, decode = 1, failed = 1,\n"
  "  cancelled = 1, timeout = 1, usage = 1 }\n"
  "local function check(what, ok, v)\n"
  "  if ok then return v end\n"
  "  if type(v) ~= 'table' or not kinds[v.kind] or type(v.message) ~= 'string' then\n"
  "    error('FUZZ: ' .. what .. ' raised ' .. (type(v) == 'table' and tostring(v.kind) .. ': '\n"
  "      .. tostring(v.message) or tostring(v)), 0)\n"
  "  end\n"
  "end\n"
  "local res = check('http.get', pcall(http.get, base .. '/r', { timeout = '5s' }))\n"
  "if res then\n"
  "  assert(math.type(res.status) == 'integer' and type(res.headers) == 'table')\n"
  "  assert(type(res.body) == 'string')\n"
  "  for k, v in pairs(res.headers) do assert(type(k) == 'string' and type(v) == 'string') end\n"
  "  check('res:json()', pcall(res.json, res))\n"
  "end\n"
  "local calls = {\n"
  "  { 'bluexp.job', function() return taskrun.bluexp.job('job1') end },\n"
  "  { 'keycard.catalog_task', function() return taskrun.keycard.catalog_task('z1', 't1') end },\n"
  "  { 'astra.task', function() return taskrun.astra.task('t1') end },\n"
  "  { 'redpanda.mount_task', function() return taskrun.redpanda.mount_task(7) end },\n"
  "}\n"
  "for _, c in ipairs(calls) do\n"
  "  local task = check(c[1], pcall(c[2]))\n"
  "  if task then\n"
  "    assert(type(task.provider) == 'string' and type(task.status) == 'string', c[1])\n"
  "    assert(type(task.done) == 'boolean', c[1])\n"
  "  end\n"
  "end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  start_listener();
  setenv("REDPANDA_DATAPLANE_URL", base_url, 1);
  setenv("KEYCARD_API_URL", base_url, 1);
  setenv("ASTRA_URL", base_url, 1);
  setenv("BLUEXP_URL", base_url, 1);
  setenv("REDPANDA_TOKEN", "fuzz-redpanda-token", 1);
  setenv("KEYCARD_TOKEN", "fuzz-keycard-token", 1);
  setenv("ASTRA_TOKEN", "fuzz-astra-token", 1);
  setenv("BLUEXP_TOKEN", "fuzz-bluexp-token", 1);
  setenv("ASTRA_ACCOUNT_ID", "acct1", 1);
  setenv("BLUEXP_ACCOUNT_ID", "account-1", 1);
  setenv("BLUEXP_AGENT_ID", "agent1clients", 1);
  tr_log_configure(TR_LOG_ERROR, 0, 1);
  /* Every request goes to the one listener: a fuzzed 429 must not hold the next ones back. */
  tr_hostq_set_slowdown(0);
  if (tr_loop_init() != 0) tr_fuzz_die("tr_loop_init failed");
  static char *no_args[] = { NULL };
  L = tr_host_new("fuzz", "http_response", no_args, 0);
  if (!L) tr_fuzz_die("tr_host_new failed");
  if (luaL_loadbuffer(L, runbook, sizeof runbook - 1, "=http_response") != LUA_OK)
    tr_fuzz_die(lua_tostring(L, -1));
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.runbook");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pthread_mutex_lock(&lock);
  free(response);
  response = malloc(size ? size : 1);
  if (!response) tr_fuzz_die("out of memory");
  memcpy(response, data, size);
  response_len = size;
  pthread_mutex_unlock(&lock);
  lua_settop(L, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.runbook");
  lua_pushstring(L, base_url);
  /* The runbook's own timeouts end every request well before this. */
  int code = tr_run_main(L, 1, 30, "30s");
  if (code != 0) {
    fprintf(stderr, "fuzz: the runbook ended with exit code %d (its error is above)\n", code);
    abort();
  }
  lua_settop(L, 0);
  /* Garbage collected now: a leak check sees balanced allocations and skips its costly scan. */
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
