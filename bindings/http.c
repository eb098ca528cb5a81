/* taskrun._http.request(opts): one HTTP exchange through libcurl's multi interface. The calling
 * task yields until the transfer ends; the response table is built in the continuation, in
 * the waiting coroutine itself. stdlib/taskrun/http.lua adds get/post/..., JSON bodies and
 * res:json(). */
#include <ctype.h>
#include <strings.h>
#include <curl/curl.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings.h"
#include "duration.h"
#include "errors.h"
#include "log.h"
#include "loop.h"
#include "sched.h"
#include "timer.h"

#define REQ_MT "taskrun.http_request"
#define DEFAULT_MAX_BODY (64u * 1024 * 1024)

typedef struct {
  char *p;
  size_t n, cap;
} bytes;

typedef struct {
  tr_op op;
  tr_transfer xfer;
  CURL *easy;
  struct curl_slist *headers;
  bytes body, head;       /* the response body, and the last response's header lines */
  size_t max_body;
  int too_large, in_flight;
  CURLcode result;
  double started;
  char method[16];
  char *safe_url;         /* the URL without user or password, for messages */
  char errbuf[CURL_ERROR_SIZE];
} http_req;

static int bytes_add(bytes *b, const char *s, size_t len) {
  if (b->n + len + 1 > b->cap) {
    size_t cap = (b->n + len + 1) * 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = '\0';
  return 0;
}

static void req_release(http_req *r) {
  if (r->easy) {
    if (r->in_flight) tr_loop_stop_transfer(r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
  }
  r->in_flight = 0;
  curl_slist_free_all(r->headers);
  r->headers = NULL;
  free(r->body.p);
  free(r->head.p);
  free(r->safe_url);
  r->body.p = r->head.p = r->safe_url = NULL;
}

static int req_gc(lua_State *L) {
  req_release(lua_touserdata(L, 1));
  return 0;
}

/* ---- libcurl callbacks: record only ---- */

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  http_req *r = ud;
  size_t len = size * n;
  if (r->body.n + len > r->max_body) {
    r->too_large = 1;
    return 0;   /* makes libcurl stop with CURLE_WRITE_ERROR */
  }
  return bytes_add(&r->body, data, len) == 0 ? len : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  http_req *r = ud;
  size_t len = size * n;
  /* A new status line starts a new response (after a redirect or a 100 Continue). */
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) r->head.n = 0;
  return bytes_add(&r->head, data, len) == 0 ? len : 0;
}

static void on_done(tr_transfer *x, CURLcode rc) {
  http_req *r = (http_req *)((char *)x - offsetof(http_req, xfer));
  r->in_flight = 0;
  r->result = rc;
  tr_op_complete(&r->op);
}

static void on_cancel(tr_op *op) {
  http_req *r = (http_req *)op;
  if (r->in_flight) tr_loop_stop_transfer(r->easy);
  r->in_flight = 0;
}

/* ---- building the request ---- */

/* Appends key=value, each percent-encoded by libcurl (a space becomes %20, never '+': APIs such
 * as Astra's filter expect %20). */
static void add_query_value(lua_State *L, CURLU *u, const char *key, int idx) {
  if (lua_type(L, idx) == LUA_TBOOLEAN) lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
  else lua_pushvalue(L, idx);
  char *k = curl_easy_escape(NULL, key, 0);
  char *v = curl_easy_escape(NULL, lua_tostring(L, -1), (int)lua_rawlen(L, -1));
  lua_pop(L, 1);
  if (!k || !v) {
    curl_free(k);
    curl_free(v);
    luaL_error(L, "out of memory");
  }
  lua_pushfstring(L, "%s=%s", k, v);
  curl_free(k);
  curl_free(v);
  curl_url_set(u, CURLUPART_QUERY, lua_tostring(L, -1), CURLU_APPENDQUERY);
  lua_pop(L, 1);
}

static int compare_cstr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_query_scalar(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

/* Raises for anything add_query cannot send, before any libcurl object exists to leak. */
static void check_query(lua_State *L, int q) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, q)) {
    if (lua_type(L, -2) != LUA_TSTRING) tr_raise(L, "usage", "http: query keys must be strings");
    if (++n > 256) tr_raise(L, "usage", "http: more than 256 query parameters");
    int ok = is_query_scalar(L, -1);
    if (lua_istable(L, -1)) {
      ok = 1;
      for (lua_Integer k = 1; lua_rawgeti(L, -1, k) != LUA_TNIL; k++) {
        ok = ok && is_query_scalar(L, -1);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    if (!ok)
      tr_raise(L, "usage", "http: query parameter '%s' must be a string, number or boolean, "
               "or a list of them", lua_tostring(L, -2));
    lua_pop(L, 1);
  }
}

/* query = { k = v, k2 = { v1, v2 } }: appended in key order, so the URL is repeatable. */
static void add_query(lua_State *L, CURLU *u, int q) {
  const char *keys[256];
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, q)) {
    lua_pop(L, 1);
    keys[n++] = lua_tostring(L, -1);
  }
  qsort(keys, n, sizeof keys[0], compare_cstr);
  for (size_t i = 0; i < n; i++) {
    lua_getfield(L, q, keys[i]);
    if (lua_istable(L, -1)) {
      for (lua_Integer k = 1; lua_rawgeti(L, -1, k) != LUA_TNIL; k++) {
        add_query_value(L, u, keys[i], lua_gettop(L));
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    } else {
      add_query_value(L, u, keys[i], lua_gettop(L));
    }
    lua_pop(L, 1);
  }
}

/* Parses the URL, adds the query, and sets both URLs on the request. */
static void set_url(lua_State *L, http_req *r, int opts) {
  lua_getfield(L, opts, "url");
  const char *url = lua_tostring(L, -1);
  if (!url) tr_raise(L, "usage", "http: the request needs a url (a string)");
  lua_getfield(L, opts, "query");
  if (lua_istable(L, -1)) check_query(L, lua_gettop(L));
  else if (!lua_isnil(L, -1)) tr_raise(L, "usage", "http: query must be a table");
  lua_pop(L, 1);
  CURLU *u = curl_url();
  if (!u) luaL_error(L, "out of memory");
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
  if (uc != CURLUE_OK) {
    curl_url_cleanup(u);
    tr_raise(L, "usage", "http: bad URL \"%s\": %s", url, curl_url_strerror(uc));
  }
  lua_getfield(L, opts, "query");
  if (lua_istable(L, -1)) add_query(L, u, lua_gettop(L));
  lua_pop(L, 2);
  char *full = NULL, *safe = NULL;
  curl_url_get(u, CURLUPART_URL, &full, 0);
  curl_url_set(u, CURLUPART_USER, NULL, 0);
  curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
  curl_url_get(u, CURLUPART_URL, &safe, 0);
  curl_url_cleanup(u);
  curl_easy_setopt(r->easy, CURLOPT_URL, full);
  r->safe_url = safe ? strdup(safe) : NULL;
  curl_free(full);
  curl_free(safe);
}

static int is_authorization(const char *name) {
  return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "proxy-authorization") == 0;
}

static void set_headers(lua_State *L, http_req *r, int opts) {
  lua_getfield(L, opts, "headers");
  int h = lua_gettop(L);
  if (lua_istable(L, h)) {
    lua_pushnil(L);
    while (lua_next(L, h)) {
      const char *name = lua_tostring(L, -2);
      const char *value = lua_tostring(L, -1);
      if (lua_type(L, -2) != LUA_TSTRING || !value)
        tr_raise(L, "usage", "http: headers must map names to strings");
      if (is_authorization(name)) {
        /* Never echo a credential: redact the whole value and the token after the scheme. */
        const char *space = strchr(value, ' ');
        tr_log_add_secret(value);
        if (space) tr_log_add_secret(space + 1);
      }
      /* "Name;" is libcurl's way to send a header with an empty value. */
      lua_pushfstring(L, *value ? "%s: %s" : "%s;", name, value);
      r->headers = curl_slist_append(r->headers, lua_tostring(L, -1));
      lua_pop(L, 2);
    }
  }
  lua_pop(L, 1);
  /* No "Expect: 100-continue" round trip before a body. */
  r->headers = curl_slist_append(r->headers, "Expect:");
  curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
}

static double opt_duration(lua_State *L, int opts, const char *key, double dflt) {
  lua_getfield(L, opts, key);
  double v = lua_isnil(L, -1) ? dflt : tr_check_duration(L, -1, key);
  lua_pop(L, 1);
  return v;
}

static void set_method_and_body(lua_State *L, http_req *r, int opts) {
  lua_getfield(L, opts, "method");
  const char *m = lua_isnil(L, -1) ? "GET" : lua_tostring(L, -1);
  size_t i = 0;
  for (; m && m[i] && i < sizeof r->method - 1; i++) r->method[i] = (char)toupper(m[i]);
  r->method[i] = '\0';
  if (!m || !i || m[i]) tr_raise(L, "usage", "http: bad method");
  lua_pop(L, 1);
  lua_getfield(L, opts, "body");
  size_t len;
  const char *body = lua_tolstring(L, -1, &len);
  if (body) {
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body);
  } else if (!lua_isnil(L, -1)) {
    tr_raise(L, "usage", "http: body must be a string (use json = {...} for a JSON body)");
  }
  lua_pop(L, 1);
  /* libcurl resends a request once when a reused connection turns out dead. Harmless for a
   * GET; a POST must never be repeated (no vendor here has idempotency keys): give every
   * other method a connection of its own. */
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
    curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
  if (strcmp(r->method, "HEAD") == 0) curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
  else if (strcmp(r->method, "GET") != 0 || body)
    curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, r->method);
}

static void set_tls(lua_State *L, http_req *r) {
  const char *bundle = getenv("TASKRUN_CA_BUNDLE");
  if (!bundle || !*bundle) return;
  if (access(bundle, R_OK) != 0)
    tr_raise(L, "usage", "TASKRUN_CA_BUNDLE=%s cannot be read; point it at a PEM file of CA "
             "certificates or unset it", bundle);
  /* CAINFO alone would replace the system CAs; CAPATH keeps them. */
  curl_easy_setopt(r->easy, CURLOPT_CAINFO, bundle);
  curl_easy_setopt(r->easy, CURLOPT_CAPATH, "/etc/ssl/certs");
}

static void configure(lua_State *L, http_req *r, int opts) {
  CURL *e = r->easy;
  set_url(L, r, opts);
  set_method_and_body(L, r, opts);
  set_headers(L, r, opts);
  set_tls(L, r);
  double timeout = opt_duration(L, opts, "timeout", 60);
  double connect = opt_duration(L, opts, "connect_timeout", 10);
  lua_getfield(L, opts, "max_body");
  r->max_body = lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0
                ? (size_t)lua_tointeger(L, -1) : DEFAULT_MAX_BODY;
  lua_getfield(L, opts, "follow");
  int follow = lua_toboolean(L, -1);
  lua_pop(L, 2);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect * 1000));
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, (long)follow);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "taskrun/" TR_VERSION);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
}

/* ---- the response ---- */

/* [-0, +1] { name = value } from the header lines, names lower-cased, repeats joined by ", ". */
static void push_headers(lua_State *L, http_req *r) {
  lua_newtable(L);
  char *line = r->head.p;
  while (line && *line) {
    char *end = strstr(line, "\r\n");
    size_t len = end ? (size_t)(end - line) : strlen(line);
    char *colon = memchr(line, ':', len);
    if (colon && memcmp(line, "HTTP/", 5) != 0) {
      for (char *c = line; c < colon; c++) *c = (char)tolower((unsigned char)*c);
      const char *v = colon + 1;
      const char *vend = line + len;
      while (v < vend && (*v == ' ' || *v == '\t')) v++;
      while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) vend--;
      lua_pushlstring(L, line, (size_t)(colon - line));
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -3) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(vend - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(vend - v));
      }
      lua_rawset(L, -3);
    }
    if (!end) break;
    line = end + 2;
  }
}

static const char *transport_cause(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: return "dns";
    case CURLE_COULDNT_CONNECT: return "connect";
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE: return "tls";
    case CURLE_GOT_NOTHING: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE: return "reset";
    default: return "other";
  }
}

static int raise_transport(lua_State *L, http_req *r) {
  const char *url = r->safe_url ? r->safe_url : "(url)";
  if (r->too_large || r->result == CURLE_FILESIZE_EXCEEDED) {
    lua_pushinteger(L, (lua_Integer)r->max_body);
    tr_push_error(L, "transport", "%s %s: the response is larger than the %s-byte cap; raise "
                  "max_body if it is expected", r->method, url, lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_pushliteral(L, "too_large");
  } else {
    const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result);
    tr_push_error(L, "transport", "%s %s failed: %s; check the URL, the network and the "
                  "service, then retry", r->method, url, detail);
    lua_pushstring(L, transport_cause(r->result));
  }
  lua_setfield(L, -2, "cause");
  lua_pushstring(L, url);
  lua_setfield(L, -2, "url");
  lua_pushinteger(L, r->result);
  lua_setfield(L, -2, "curl_code");
  return lua_error(L);
}

static int request_k(lua_State *L, int status, lua_KContext ctx) {
  http_req *r = luaL_checkudata(L, -1, REQ_MT);
  double took = tr_now() - r->started;
  if (r->result != CURLE_OK) {
    tr_logf(TR_LOG_DEBUG, "http %s %s failed after %.0f ms: %s", r->method,
            r->safe_url ? r->safe_url : "", took * 1000, curl_easy_strerror(r->result));
    return raise_transport(L, r);
  }
  long code = 0;
  curl_off_t retry_after = 0;
  char *final_url = NULL;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &retry_after);
  curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &final_url);
  tr_logf(TR_LOG_DEBUG, "http %s %s -> %ld in %.0f ms, %zu bytes", r->method,
          r->safe_url ? r->safe_url : "", code, took * 1000, r->body.n);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "status");
  push_headers(L, r);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, r->body.p ? r->body.p : "", r->body.n);
  lua_setfield(L, -2, "body");
  if (retry_after > 0) {
    lua_pushinteger(L, (lua_Integer)retry_after);
    lua_setfield(L, -2, "retry_after");
  }
  lua_pushstring(L, r->safe_url);
  lua_setfield(L, -2, "url");
  lua_pushstring(L, r->method);
  lua_setfield(L, -2, "method");
  lua_pushnumber(L, took);
  lua_setfield(L, -2, "elapsed");
  req_release(r);
  return 1;
}

/* request(opts): [-1, +1, e] waits for the response table; raises kind "transport" when no
 * response came, "usage" for bad options. HTTP error statuses are responses, not errors. */
static int l_request(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  tr_sched_check_wait(L, "http.request");   /* before curl_easy_init: see sched.h */
  http_req *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  luaL_setmetatable(L, REQ_MT);
  if (!tr_loop_multi() || !(r->easy = curl_easy_init()))
    return luaL_error(L, "http: cannot initialise libcurl");
  r->op.cancel = on_cancel;
  r->xfer.done = on_done;
  configure(L, r, 1);
  lua_settop(L, 2);
  if (tr_sched_can_wait(L)) {
    tr_logf(TR_LOG_DEBUG, "http %s %s", r->method, r->safe_url ? r->safe_url : "");
    r->started = tr_now();
    CURLMcode mc = tr_loop_start_transfer(r->easy, &r->xfer);
    if (mc != CURLM_OK)
      return tr_raise(L, "transport", "http: cannot start the transfer: %s",
                      curl_multi_strerror(mc));
    r->in_flight = 1;
  }
  return tr_await(L, &r->op, "http.request", 0, request_k);
}

int luaopen_taskrun_http(lua_State *L) {
  static const luaL_Reg funcs[] = { { "request", l_request }, { NULL, NULL } };
  luaL_newmetatable(L, REQ_MT);
  lua_pushcfunction(L, req_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
