/* MHD calls the access handler several times per request: once for the headers, once per body
 * chunk, once at the end, and once more after a suspended connection is resumed. The request
 * context is created by the URI callback, so even requests MHD rejects early are counted and
 * freed in one place: the completion callback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "reply.h"
#include "router.h"
#include "server.h"
#include "timer.h"

/* Request bodies past this size are refused: nothing the vendors accept comes close. */
#define SIM_MAX_BODY (4u * 1024 * 1024)
/* A stalled body gives up after this long, so a client without a timeout cannot pin it. */
#define SIM_STALL_MS 120000.0
/* MHD's memory pool per connection: see MHD_OPTION_CONNECTION_MEMORY_LIMIT below. */
#define SIM_CONNECTION_MEMORY (8u * 1024)

static struct MHD_Daemon *daemon_handle;
static atomic_int suspended_count;
static atomic_ulong stat_total;
static atomic_uint stat_inflight;
static atomic_uint stat_max_inflight;
/* Connections: accepted since the last reset, open now, and the most open at once. */
static atomic_ulong stat_accepted;
static atomic_uint stat_open;
static atomic_uint stat_max_open;

void sim_stats_get(sim_stats *st)
{
  st->requests = atomic_load(&stat_total);
  st->inflight = atomic_load(&stat_inflight);
  st->max_inflight = atomic_load(&stat_max_inflight);
  st->connections = atomic_load(&stat_accepted);
  st->open_connections = atomic_load(&stat_open);
  st->max_open_connections = atomic_load(&stat_max_open);
}

void sim_stats_reset(void)
{
  atomic_store(&stat_total, 0);
  atomic_store(&stat_max_inflight, 0);
  atomic_store(&stat_accepted, 0);
  /* Kept connections stay open across a reset and may never be counted again: the peak
   * starts from what is open, not from 0. */
  atomic_store(&stat_max_open, atomic_load(&stat_open));
}

/* Raises *peak to now, unless another thread raised it further. */
static void raise_peak(atomic_uint *peak, unsigned now)
{
  unsigned seen = atomic_load(peak);
  while (now > seen && !atomic_compare_exchange_weak(peak, &seen, now)) {}
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
  (void)cls;
  (void)conn;
  (void)socket_context;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    atomic_fetch_add(&stat_accepted, 1);
    raise_peak(&stat_max_open, atomic_fetch_add(&stat_open, 1) + 1);
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    atomic_fetch_sub(&stat_open, 1);
  }
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
  (void)cls;
  sim_request *rq = calloc(1, sizeof *rq);
  if (!rq) return NULL;
  rq->conn = conn;
  rq->uri = strdup(uri ? uri : "");
  char *q = rq->uri ? strchr(rq->uri, '?') : NULL;
  rq->query = q ? q + 1 : "";
  atomic_fetch_add(&stat_total, 1);
  unsigned now = atomic_fetch_add(&stat_inflight, 1) + 1;
  raise_peak(&stat_max_inflight, now);
  rq->inflight_at_arrival = now;
  return rq;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
  (void)cls;
  (void)conn;
  (void)why;
  sim_request *rq = *con_cls;
  if (!rq) return;
  *con_cls = NULL;
  atomic_fetch_sub(&stat_inflight, 1);
  sim_reply_clear(&rq->reply);
  free(rq->uri);
  free(rq->method);
  free(rq->path);
  free(rq->body);
  free(rq);
}

/* Parks the connection of rq for ms milliseconds. */
static void park(sim_request *rq, double ms)
{
  rq->suspended = 1;
  atomic_fetch_add(&suspended_count, 1);
  MHD_suspend_connection(rq->conn);
  if (sim_timer_resume_after(rq->conn, ms) != 0) MHD_resume_connection(rq->conn);
}

/* Called when MHD hands a parked request back to us. */
static void unpark(sim_request *rq)
{
  if (!rq->suspended) return;
  rq->suspended = 0;
  atomic_fetch_sub(&suspended_count, 1);
}

/* A stalled body: the first half goes out at once, then the connection is parked until the
 * stall times out or the server stops, and the transfer ends unfinished. */
static ssize_t stall_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  sim_request *rq = cls;
  size_t half = rq->reply.body_len / 2;
  if (rq->stall_sent == (size_t)-1) {
    unpark(rq);
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  if (pos < half) {
    size_t n = half - (size_t)pos;
    if (n > max) n = max;
    memcpy(buf, rq->reply.body + pos, n);
    return (ssize_t)n;
  }
  rq->stall_sent = (size_t)-1;
  park(rq, SIM_STALL_MS);
  return 0;
}

static enum MHD_Result send_reply(sim_request *rq)
{
  sim_reply *r = &rq->reply;
  struct MHD_Response *resp;
  if (r->action == SIM_DROP) return MHD_NO;
  if (r->action == SIM_STALL) {
    resp = MHD_create_response_from_callback(r->body_len, 4096, stall_reader, rq, NULL);
  } else {
    resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
    if (resp) r->body = NULL;
  }
  if (!resp) return MHD_NO;
  if (r->content_type) MHD_add_response_header(resp, "Content-Type", r->content_type);
  for (int i = 0; i < r->n_headers; i++) {
    MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
  }
  int status = (r->status >= 200 && r->status <= 599) ? r->status : 500;
  enum MHD_Result ok = MHD_queue_response(rq->conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return ok;
}

static void append_body(sim_request *rq, const char *data, size_t len)
{
  if (rq->body_too_large || rq->body_len + len > SIM_MAX_BODY) {
    rq->body_too_large = 1;
    return;
  }
  if (rq->body_len + len + 1 > rq->body_cap) {
    size_t ncap = rq->body_cap ? rq->body_cap : 1024;
    while (ncap < rq->body_len + len + 1) ncap *= 2;
    char *grown = realloc(rq->body, ncap);
    if (!grown) {
      rq->body_too_large = 1;
      return;
    }
    rq->body = grown;
    rq->body_cap = ncap;
  }
  memcpy(rq->body + rq->body_len, data, len);
  rq->body_len += len;
  rq->body[rq->body_len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
  (void)cls;
  (void)version;
  sim_request *rq = *con_cls;
  if (!rq || !rq->uri) return MHD_NO;
  if (!rq->started) {
    rq->started = 1;
    rq->conn = conn;
    rq->method = strdup(method);
    rq->path = strdup(url);
    return (rq->method && rq->path) ? MHD_YES : MHD_NO;
  }
  if (*upload_size) {
    append_body(rq, upload_data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (!rq->dispatched) {
    rq->dispatched = 1;
    sim_dispatch(rq);
    if (rq->reply.delay_ms) {
      park(rq, rq->reply.delay_ms);
      return MHD_YES;
    }
  }
  unpark(rq);
  return send_reply(rq);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
  (void)cls;
  /* /_sim/drop and the drop fault close connections on purpose: not worth a line. */
  char line[512];
  vsnprintf(line, sizeof line, fmt, ap);
  if (strstr(line, "Application reported") || strstr(line, "application reported")) return;
  fprintf(stderr, "taskrun-sim: mhd: %s", line);
}

int sim_server_start(const char *host, unsigned port, unsigned threads)
{
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "taskrun-sim: --host must be an IPv4 address: %s\n", host);
    return -1;
  }
  if (sim_timer_start() != 0) return -1;
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  daemon_handle = MHD_start_daemon(
      flags, (uint16_t)port, NULL, NULL, on_request, NULL,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_THREAD_POOL_SIZE, threads,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)60000,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
      /* Each connection's memory pool (request line, headers, read buffer): MHD's 32 KiB
       * default made the simulator's memory follow the connections, ~38 KiB each, where the
       * requests it serves have a few hundred bytes of headers. Bodies larger than the read
       * buffer still arrive, in pieces (on_request collects them). */
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SIM_CONNECTION_MEMORY,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
      MHD_OPTION_END);
  if (!daemon_handle) {
    fprintf(stderr, "taskrun-sim: cannot listen on %s:%u\n", host, port);
    sim_timer_stop();
    return -1;
  }
  return 0;
}

unsigned sim_server_port(void)
{
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(daemon_handle, MHD_DAEMON_INFO_BIND_PORT);
  return info ? info->port : 0;
}

void sim_server_stop(void)
{
  if (!daemon_handle) return;
  MHD_quiesce_daemon(daemon_handle);
  sim_timer_stop();
  /* The workers must take the resumed connections back before MHD may stop. */
  for (int i = 0; i < 300 && atomic_load(&suspended_count) > 0; i++) {
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  MHD_stop_daemon(daemon_handle);
  daemon_handle = NULL;
}
