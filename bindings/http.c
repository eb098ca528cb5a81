/* taskrun._http.request(opts): one HTTP exchange through libcurl's multi interface. The calling
 * task yields until the transfer ends; the response table is built in the continuation, in
 * the waiting coroutine itself. stdlib/taskrun/http.lua adds get/post/..., JSON bodies and
 * res:json().
 *
 * The options are checked and kept in the request, and the request joins its host's queue
 * (runtime/hostq.c); only when its turn comes does it take an easy handle (a new one: see
 * on_start) and set it up, so a request waiting its turn holds no libcurl state. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <strings.h>
#include <curl/curl.h>
#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bindings.h"
#include "duration.h"
#include "errors.h"
#include "excerpt.h"
#include "hostq.h"
#include "log.h"
#include "loop.h"
#include "sched.h"
#include "stackcheck.h"
#include "timer.h"
#include "urlescape.h"

#define REQ_MT "taskrun.http_request"
#define DEFAULT_MAX_BODY (64u * 1024 * 1024)
#define MAX_QUERY_KEYS 256
/* A response's headers: vendors send a few dozen lines; past these it is broken or hostile. */
#define MAX_HEADER_LINES 1000
#define MAX_HEADER_BYTES (1024u * 1024)

typedef struct {
  char *p;
  size_t n, cap;
} bytes;

typedef struct {
  tr_op op;
  tr_transfer xfer;
  tr_hostq_req slot;      /* its place in its host's queue */
  CURL *easy;             /* from its start to its release */
  struct curl_slist *headers;
  bytes body;             /* the response body */
  size_t max_body;
  size_t head_lines, head_bytes;   /* the last response's header lines so far, and their size */
  int too_large, headers_too_large, in_flight;
  int socket_errno;       /* why socket() failed, when it did: EMFILE is not a network error */
  int never_sent;         /* its deadline passed while it queued */
  CURLMcode start_error;  /* it could not start */
  CURLcode result;
  double started, deadline;
  /* What the easy handle is set up with when the request starts. The request body is the Lua
   * string in the userdata's first user value, a plain URL (see set_url) the one in its second:
   * they live as long as the request. */
  const char *url;        /* the full URL, to send: the caller's string or url_copy */
  const char *send_body;
  size_t send_len;
  long timeout_ms, connect_ms;
  int follow, fresh_connect, ca_bundle, max_inflight;
  double rate;            /* requests per second to its host with this rate; 0: none */
  double hold;            /* the longest its host's Retry-After holds it back; < 0: 5 min */
  char method[16];
  const char *safe_url;   /* the URL without user or password, for messages: likewise */
  char *url_copy, *safe_url_copy;   /* built here, for a URL with a query or a login */
  /* libcurl's words on a failure (CURL_ERROR_SIZE bytes), or why it was never sent: made when
   * it starts or expires, not while it queues (10,000 queued requests are 10,000 of these). */
  char *errbuf;
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
  if (r->in_flight) tr_loop_stop_transfer(r->easy);
  r->in_flight = 0;
  tr_hostq_cancel(&r->slot);
  curl_easy_cleanup(r->easy);
  r->easy = NULL;
  curl_slist_free_all(r->headers);
  r->headers = NULL;
  free(r->body.p);
  free(r->safe_url_copy);
  free(r->url_copy);
  free(r->errbuf);
  r->body.p = r->safe_url_copy = r->url_copy = r->errbuf = NULL;
  r->url = r->safe_url = NULL;
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

/* libcurl keeps the headers itself (read back with curl_easy_nextheader); this only counts the
 * last response's lines and bytes, so that a server sending megabytes of headers is stopped
 * early. curl_easy_nextheader counts a name's repeats over every stored header on each call:
 * the cap also bounds that walk. */
static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  http_req *r = ud;
  size_t len = size * n;
  /* A new status line starts a new response (after a redirect or a 100 Continue). */
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) r->head_lines = r->head_bytes = 0;
  r->head_lines++;
  r->head_bytes += len;
  if (r->head_lines > MAX_HEADER_LINES || r->head_bytes > MAX_HEADER_BYTES) {
    r->headers_too_large = 1;
    return 0;
  }
  return len;
}

/* libcurl's own socket() would fail with EMFILE and report only "Couldn't connect to server",
 * with no errno in CURLINFO_OS_ERRNO: open the socket here to know why. CLOEXEC too, so a
 * child the runbook starts never holds a connection. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
  http_req *r = ud;
  int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd < 0) r->socket_errno = errno;
  else tr_loop_socket_opened(fd);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static void on_done(tr_transfer *x, CURLcode rc) {
  http_req *r = (http_req *)((char *)x - offsetof(http_req, xfer));
  long status = 0;
  curl_off_t retry_after = 0;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &retry_after);
  }
  r->in_flight = 0;
  r->result = rc;
  /* A 429 slows its whole host down before anything else starts there. */
  tr_hostq_done(&r->slot, status, (double)retry_after);
  tr_op_complete(&r->op);
}

static void on_cancel(tr_op *op) {
  http_req *r = (http_req *)op;
  if (r->in_flight) tr_loop_stop_transfer(r->easy);
  r->in_flight = 0;
  tr_hostq_cancel(&r->slot);
}

static void apply(http_req *r);

/* Its turn in its host's queue: an easy handle, set up, into the loop. Every request has a new
 * handle: libcurl before 8.1.0 (Debian 12 ships 7.88.1) keeps a dangling pointer to the last
 * header of a handle's previous transfer, and a response whose first header line is folded
 * (starts with a space) then writes through it (curl issue #11101, found by our fuzzer). Kept
 * connections live in the multi handle, so reusing handles only saved ~5% of a poll's
 * instructions. */
static int on_start(tr_hostq_req *q) {
  http_req *r = (http_req *)((char *)q - offsetof(http_req, slot));
  if (!r->errbuf && !(r->errbuf = calloc(1, CURL_ERROR_SIZE))) {
    r->start_error = CURLM_OUT_OF_MEMORY;
  } else if (!r->easy && !(r->easy = curl_easy_init())) {
    r->start_error = CURLM_OUT_OF_MEMORY;
  } else {
    apply(r);
    r->start_error = (CURLMcode)tr_loop_start_transfer(r->easy, &r->xfer);
  }
  if (r->start_error != CURLM_OK) {
    tr_op_complete(&r->op);   /* a no-op while l_request still runs: it raises */
    return -1;
  }
  r->in_flight = 1;
  return 0;
}

/* Its deadline passed while it queued: it ends as a timeout, never sent. */
static void on_expire(tr_hostq_req *q) {
  http_req *r = (http_req *)((char *)q - offsetof(http_req, slot));
  r->never_sent = 1;
  r->result = CURLE_OPERATION_TIMEDOUT;
  if (r->errbuf || (r->errbuf = calloc(1, CURL_ERROR_SIZE)))
    tr_hostq_explain(q, r->errbuf, CURL_ERROR_SIZE);
  tr_op_complete(&r->op);
}

/* ---- reading the options ---- */

/* Each option is read exactly once, into a stack slot, before anything else: an __index that
 * answers differently on each read cannot make a check and its use disagree. */
enum { OPT_URL, OPT_QUERY, OPT_HEADERS, OPT_METHOD, OPT_BODY, OPT_TIMEOUT, OPT_CONNECT,
       OPT_MAX_BODY, OPT_FOLLOW, OPT_MAX_INFLIGHT, OPT_RATE, OPT_MAX_RETRY_AFTER, OPT_COUNT };
static const char *const option_names[OPT_COUNT] = {
  "url", "query", "headers", "method", "body", "timeout", "connect_timeout", "max_body", "follow",
  "max_inflight", "rate", "max_retry_after"
};

/* [-0, +OPT_COUNT, e] Pushes opts[name] for every option, in the order of the enum. */
static void push_options(lua_State *L, int opts) {
  TR_STACK_BEGIN(L);
  luaL_checkstack(L, OPT_COUNT, "http.request");
  for (int i = 0; i < OPT_COUNT; i++) lua_getfield(L, opts, option_names[i]);
  TR_STACK_END(L, 0, OPT_COUNT);
}

/* ---- building the request ---- */

typedef struct {
  const char *s;
  size_t len;
} query_key;

static int compare_keys(const void *a, const void *b) {
  const query_key *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* [-0, +0, e] Appends "key=value" for the scalar at idx to the list of pieces at `parts`;
 * raises kind "usage" for a value a query cannot hold. */
static void add_query_piece(lua_State *L, int parts, const query_key *key, int idx) {
  TR_STACK_BEGIN(L);
  int t = lua_type(L, idx);
  if (t == LUA_TBOOLEAN) {
    lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
  } else if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    lua_pushvalue(L, idx);
  } else {
    tr_push_excerpt(L, key->s, key->len);
    tr_raise(L, "usage", "http: query parameter %s must be a string, number or boolean, or a "
             "list of them", lua_tostring(L, -1));
  }
  size_t vlen;
  const char *v = lua_tolstring(L, -1, &vlen);   /* converts the copy, not the caller's value */
  tr_push_url_escaped(L, key->s, key->len);
  lua_pushliteral(L, "=");
  tr_push_url_escaped(L, v, vlen);
  lua_concat(L, 3);
  lua_rawseti(L, parts, (lua_Integer)lua_rawlen(L, parts) + 1);
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
}

/* [-0, +1, m] Pushes the strings of the list at idx joined by sep (table.concat's work). */
static void push_joined(lua_State *L, int idx, const char *sep) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) luaL_addstring(&b, sep);
    lua_rawgeti(L, idx, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
}

/* [-0, +1, e] query = { k = v, k2 = { v1, v2 } } as "k=v&k2=v1&k2=v2", keys in byte order so
 * the URL is repeatable. Bounded by itself: never more than MAX_QUERY_KEYS keys, whatever the
 * table holds. */
static void push_query(lua_State *L, int q) {
  TR_STACK_BEGIN(L);
  query_key keys[MAX_QUERY_KEYS];
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, q)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) tr_raise(L, "usage", "http: query keys must be strings");
    if (n == MAX_QUERY_KEYS)
      tr_raise(L, "usage", "http: more than %d query parameters", MAX_QUERY_KEYS);
    /* The key string stays alive in the table, which nothing changes while this runs. */
    keys[n].s = lua_tolstring(L, -1, &keys[n].len);
    n++;
  }
  qsort(keys, n, sizeof keys[0], compare_keys);
  lua_createtable(L, (int)n, 0);
  int parts = lua_gettop(L);
  for (size_t i = 0; i < n; i++) {
    lua_pushlstring(L, keys[i].s, keys[i].len);
    if (lua_rawget(L, q) == LUA_TTABLE) {
      int list = lua_gettop(L);
      for (lua_Integer k = 1; lua_rawgeti(L, list, k) != LUA_TNIL; k++) {
        add_query_piece(L, parts, &keys[i], lua_gettop(L));
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    } else {
      add_query_piece(L, parts, &keys[i], lua_gettop(L));
    }
    lua_pop(L, 1);
  }
  push_joined(L, parts, "&");
  lua_remove(L, parts);
  TR_STACK_END(L, 0, 1);
}

/* [-0, +1, m] A URL for a message: its user and password masked (a URL that fails to parse may
 * still carry them), quoted and capped. */
static void push_url_for_message(lua_State *L, const char *url, size_t len) {
  TR_STACK_BEGIN(L);
  const char *scheme_end = NULL;
  for (size_t i = 0; i + 2 < len && !scheme_end; i++)
    if (memcmp(url + i, "://", 3) == 0) scheme_end = url + i + 3;
  const char *start = scheme_end ? scheme_end : url, *end = start, *at = NULL;
  while (end < url + len && *end != '/' && *end != '?' && *end != '#') {
    if (*end == '@') at = end;
    end++;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (at) {
    luaL_addlstring(&b, url, (size_t)(start - url));
    luaL_addstring(&b, "***");
    luaL_addlstring(&b, at, (size_t)(url + len - at));
  } else {
    luaL_addlstring(&b, url, len);
  }
  luaL_pushresult(&b);
  size_t mlen;
  const char *masked = lua_tolstring(L, -1, &mlen);
  tr_push_excerpt(L, masked, mlen);
  lua_remove(L, -2);
  TR_STACK_END(L, 0, 1);
}

/* Whether the parsed URL u names a user or a password (the parts a safe URL leaves out). Each
 * part read is a copy of the part, far cheaper than a whole URL: libcurl 7.88 builds one
 * through its own printf, byte by byte (~15,000 instructions a URL). */
static int has_login(CURLU *u) {
  char *part = NULL;
  CURLUcode user = curl_url_get(u, CURLUPART_USER, &part, 0);
  curl_free(part);
  part = NULL;
  CURLUcode password = curl_url_get(u, CURLUPART_PASSWORD, &part, 0);
  curl_free(part);
  return user != CURLUE_NO_USER || password != CURLUE_NO_PASSWORD;
}

/* The origins (scheme://authority) of URLs parsed already and found plain (no user or
 * password), so that a URL of a known origin is sent as given without parsing it again: a wait
 * or a loop asks the same host again and again, 10,000 waits for 10,000 different paths, and
 * parsing one URL costs ~12,000 instructions. libcurl ends the authority at the first '/', '?'
 * or '#', and a user or password can only be in it; the rest is only scanned for the bytes
 * libcurl refuses anywhere in a URL (controls, space, DEL), so a URL it would refuse is still
 * parsed, and refused, here. Direct-mapped by a hash of the origin; an entry holds the exact
 * text, compared in full. The entries live as long as the process. */
#define PLAIN_ORIGINS 64
static char *plain_origins[PLAIN_ORIGINS];
static size_t plain_lens[PLAIN_ORIGINS];

/* The length of url's origin, or 0 when it has no "://". */
static size_t origin_len(const char *url, size_t len) {
  const char *sep = memmem(url, len, "://", 3);
  if (!sep) return 0;
  return (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#");
}

static size_t origin_slot(const char *s, size_t len) {
  uint32_t h = 2166136261u;   /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h % PLAIN_ORIGINS;
}

static int clean_bytes(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || *s == 0x7f) return 0;
  return 1;
}

static int is_known_plain(const char *url, size_t len) {
  size_t n = origin_len(url, len);
  if (!n) return 0;
  size_t i = origin_slot(url, n);
  return plain_origins[i] && plain_lens[i] == n && memcmp(plain_origins[i], url, n) == 0
         && clean_bytes(url + n);
}

static void remember_plain(const char *url, size_t len) {
  size_t n = origin_len(url, len);
  if (!n) return;
  size_t i = origin_slot(url, n);
  char *copy = strndup(url, n);
  if (!copy) return;   /* only a cache */
  free(plain_origins[i]);
  plain_origins[i] = copy;
  plain_lens[i] = n;
}

/* [-0, +0, e] Parses the URL (refusing what libcurl cannot parse), adds the query, and sets
 * both URLs on the request. A URL with no query to add and no user or password is sent and
 * shown as given: libcurl parses it again itself, so building it back here would only cost. */
static void set_url(lua_State *L, http_req *r, int url_idx, int query_idx) {
  TR_STACK_BEGIN(L);
  size_t len = 0;
  const char *url = lua_type(L, url_idx) == LUA_TSTRING ? lua_tolstring(L, url_idx, &len) : NULL;
  if (!url) tr_raise(L, "usage", "http: the request needs a url (a string)");
  if (strlen(url) != len) {
    push_url_for_message(L, url, len);
    tr_raise(L, "usage", "http: bad URL %s: it holds a NUL byte", lua_tostring(L, -1));
  }
  /* The query string is built (and checked) before any libcurl object exists to leak. */
  if (lua_istable(L, query_idx)) push_query(L, query_idx);
  else if (lua_isnil(L, query_idx)) lua_pushliteral(L, "");
  else tr_raise(L, "usage", "http: query must be a table");
  const char *query = lua_tostring(L, -1);
  int plain = !*query && is_known_plain(url, len);
  if (!plain) {
    CURLU *u = curl_url();
    if (!u) luaL_error(L, "out of memory");
    /* PATH_AS_IS: never fold "/./" or "/../" away; a path is sent as it was built. */
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS);
    if (uc == CURLUE_OK && *query) uc = curl_url_set(u, CURLUPART_QUERY, query, CURLU_APPENDQUERY);
    if (uc != CURLUE_OK) {
      curl_url_cleanup(u);
      push_url_for_message(L, url, len);
      tr_raise(L, "usage", "http: bad URL %s: %s", lua_tostring(L, -1), curl_url_strerror(uc));
    }
    plain = !*query && !has_login(u);
    if (plain) {
      remember_plain(url, len);
    } else {
      char *full = NULL, *safe = NULL;
      curl_url_get(u, CURLUPART_URL, &full, 0);
      curl_url_set(u, CURLUPART_USER, NULL, 0);
      curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
      curl_url_get(u, CURLUPART_URL, &safe, 0);
      r->url = r->url_copy = full ? strdup(full) : NULL;
      r->safe_url = r->safe_url_copy = safe ? strdup(safe) : NULL;
      curl_free(full);
      curl_free(safe);
    }
    curl_url_cleanup(u);
  }
  if (plain) {
    /* Sent and shown as given: the request keeps the caller's string, not two copies. */
    lua_pushvalue(L, url_idx);
    lua_setiuservalue(L, -3, 2);   /* under the query: the request's userdata */
    r->url = r->safe_url = url;
  }
  if (!r->url || !r->safe_url) luaL_error(L, "out of memory");
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 0);
}

/* RFC 9110 tchar: what a header name or a method may hold. */
static int is_token(const char *s, size_t len) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             (c && strchr("!#$%&'*+-.^_`|~", c));
    if (!ok) return 0;
  }
  return 1;
}

static int is_authorization(const char *name) {
  return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "proxy-authorization") == 0;
}

/* [-0, +0, e] Adds the headers at h (a table of name = value, or nil). A name that is not an
 * HTTP token, or a value holding CR, LF or NUL, would forge headers or split the request: kind
 * "usage", and the message names the header, never its value (it may be a credential). */
static void set_headers(lua_State *L, http_req *r, int h) {
  TR_STACK_BEGIN(L);
  if (lua_istable(L, h)) {
    lua_pushnil(L);
    while (lua_next(L, h)) {
      size_t nlen = 0, vlen = 0;
      const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nlen) : NULL;
      const char *value = lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER
                          ? lua_tolstring(L, -1, &vlen) : NULL;
      if (!name || !value) tr_raise(L, "usage", "http: headers must map names to strings");
      if (is_authorization(name)) {
        /* Never echo a credential: redact the whole value and the token after the scheme. */
        const char *space = strchr(value, ' ');
        tr_log_add_secret(value);
        if (space) tr_log_add_secret(space + 1);
      }
      if (!is_token(name, nlen)) {
        tr_push_excerpt(L, name, nlen);
        tr_raise(L, "usage", "http: header name %s is not an HTTP token (letters, digits and "
                 "!#$%%&'*+-.^_`|~); nothing was sent", lua_tostring(L, -1));
      }
      if (strcspn(value, "\r\n") != vlen) {
        tr_push_excerpt(L, name, nlen);
        tr_raise(L, "usage", "http: the value of header %s holds a CR, LF or NUL character, "
                 "which would split the request; nothing was sent", lua_tostring(L, -1));
      }
      /* "Name;" is libcurl's way to send a header with an empty value. The line is put
       * together here rather than as a Lua string: curl_slist_append copies it anyway. */
      char small[256];
      size_t need = nlen + 2 + vlen + 1;
      char *line = need <= sizeof small ? small : malloc(need);
      if (!line) luaL_error(L, "out of memory");
      memcpy(line, name, nlen);
      if (vlen) {
        memcpy(line + nlen, ": ", 2);
        memcpy(line + nlen + 2, value, vlen);
        line[nlen + 2 + vlen] = '\0';
      } else {
        memcpy(line + nlen, ";", 2);
      }
      struct curl_slist *list = curl_slist_append(r->headers, line);
      if (line != small) free(line);
      if (!list) luaL_error(L, "out of memory");
      r->headers = list;
      lua_pop(L, 1);
    }
  }
  /* No "Expect: 100-continue" round trip before a body. */
  struct curl_slist *list = curl_slist_append(r->headers, "Expect:");
  if (!list) luaL_error(L, "out of memory");
  r->headers = list;
  TR_STACK_END(L, 0, 0);
}

/* [-0, +0, v] A timeout option in whole milliseconds: at least 1, never libcurl's 0 (which
 * means no timeout at all). 0 or less is kind "usage". */
static long timeout_ms(lua_State *L, int idx, const char *key, double dflt) {
  double v = lua_isnil(L, idx) ? dflt : tr_check_duration(L, idx, key);
  if (v <= 0)
    tr_raise(L, "usage", "http: %s must be more than 0 (libcurl would read 0 as no timeout at "
             "all); give e.g. \"30s\"", key);
  double ms = ceil(v * 1000);
  return ms < 1 ? 1 : (long)ms;
}

/* [-0, +0, e] Sets the method (an HTTP token, upper-cased) and the body; the request's
 * userdata, on the top of the stack, keeps the body string as its user value. */
static void set_method_and_body(lua_State *L, http_req *r, int method_idx, int body_idx) {
  TR_STACK_BEGIN(L);
  size_t mlen = 3;
  const char *m = lua_isnil(L, method_idx) ? "GET"
                  : lua_type(L, method_idx) == LUA_TSTRING ? lua_tolstring(L, method_idx, &mlen)
                  : NULL;
  if (!m || mlen >= sizeof r->method || !is_token(m, mlen)) {
    if (m) tr_push_excerpt(L, m, mlen);
    else lua_pushfstring(L, "(a %s)", luaL_typename(L, method_idx));
    tr_raise(L, "usage", "http: bad method %s: give one HTTP token of at most %d characters, "
             "such as GET, POST or DELETE; nothing was sent", lua_tostring(L, -1),
             (int)sizeof r->method - 1);
  }
  for (size_t i = 0; i < mlen; i++) r->method[i] = (char)toupper((unsigned char)m[i]);
  r->method[mlen] = '\0';
  size_t len;
  const char *body = lua_type(L, body_idx) == LUA_TSTRING ? lua_tolstring(L, body_idx, &len)
                     : NULL;
  if (body) {
    r->send_body = body;
    r->send_len = len;
    lua_pushvalue(L, body_idx);
    lua_setiuservalue(L, -2, 1);
  } else if (!lua_isnil(L, body_idx)) {
    tr_raise(L, "usage", "http: body must be a string (use json = {...} for a JSON body)");
  }
  /* libcurl resends a request once when a reused connection turns out dead. Harmless for a
   * GET; a POST must never be repeated (no vendor here has idempotency keys): give every
   * other method a connection of its own. */
  r->fresh_connect = strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;
  TR_STACK_END(L, 0, 0);
}

static void set_tls(lua_State *L, http_req *r) {
  const char *bundle = getenv("TASKRUN_CA_BUNDLE");
  if (!bundle || !*bundle) return;
  if (access(bundle, R_OK) != 0)
    tr_raise(L, "usage", "TASKRUN_CA_BUNDLE=%s cannot be read; point it at a PEM file of CA "
             "certificates or unset it", bundle);
  r->ca_bundle = 1;
}

/* [-0, +0, e] max_inflight (a whole number from 1), rate ("20/s") and max_retry_after (a
 * duration, 0 or more), or nil. */
static void set_limits(lua_State *L, http_req *r, int limit_idx, int rate_idx, int hold_idx) {
  r->hold = -1;
  if (!lua_isnil(L, hold_idx)) r->hold = tr_check_duration(L, hold_idx, "max_retry_after");
  if (!lua_isnil(L, limit_idx)) {
    lua_Integer n = lua_isinteger(L, limit_idx) ? lua_tointeger(L, limit_idx) : 0;
    if (n < 1) {
      if (lua_type(L, limit_idx) == LUA_TNUMBER) {
        lua_pushvalue(L, limit_idx);
        lua_tostring(L, -1);   /* the copy, as text */
      } else {
        lua_pushfstring(L, "(a %s)", luaL_typename(L, limit_idx));
      }
      tr_raise(L, "usage", "http: bad max_inflight %s: give the most requests in flight to the "
               "host, a whole number from 1", lua_tostring(L, -1));
    }
    r->max_inflight = n > INT_MAX ? INT_MAX : (int)n;
  }
  if (!lua_isnil(L, rate_idx)) {
    const char *why = "give a string, like \"20/s\"";
    const char *text = lua_type(L, rate_idx) == LUA_TSTRING ? lua_tostring(L, rate_idx) : NULL;
    if (!text || strlen(text) != lua_rawlen(L, rate_idx) ||
        tr_hostq_parse_rate(text, &r->rate, &why) != 0) {
      if (text) tr_push_excerpt(L, text, lua_rawlen(L, rate_idx));
      else lua_pushfstring(L, "(a %s)", luaL_typename(L, rate_idx));
      tr_raise(L, "usage", "http: bad rate %s: %s", lua_tostring(L, -1), why);
    }
  }
}

/* [-0, +0, e] Checks the options read by push_options, at `o`, and keeps them in r; the
 * request's userdata is on the top of the stack. */
static void configure(lua_State *L, http_req *r, int o) {
  TR_STACK_BEGIN(L);
  luaL_checkstack(L, 10, "http.request");
  set_url(L, r, o + OPT_URL, o + OPT_QUERY);
  set_method_and_body(L, r, o + OPT_METHOD, o + OPT_BODY);
  set_headers(L, r, o + OPT_HEADERS);
  set_tls(L, r);
  set_limits(L, r, o + OPT_MAX_INFLIGHT, o + OPT_RATE, o + OPT_MAX_RETRY_AFTER);
  r->timeout_ms = timeout_ms(L, o + OPT_TIMEOUT, "timeout", 60);
  r->connect_ms = timeout_ms(L, o + OPT_CONNECT, "connect_timeout", 10);
  int m = o + OPT_MAX_BODY;
  r->max_body = lua_isinteger(L, m) && lua_tointeger(L, m) > 0
                ? (size_t)lua_tointeger(L, m) : DEFAULT_MAX_BODY;
  r->follow = lua_toboolean(L, o + OPT_FOLLOW);
  TR_STACK_END(L, 0, 0);
}

/* Sets up r->easy, a handle with default options, from what configure kept. Its timeout is
 * what is left of the request's: the time it queued counts. */
static void apply(http_req *r) {
  CURL *e = r->easy;
  double left_ms = ceil((r->deadline - tr_now()) * 1000);
  long timeout = left_ms < 1 ? 1 : left_ms < r->timeout_ms ? (long)left_ms : r->timeout_ms;
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  if (r->send_body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->send_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->send_body);
  }
  if (r->fresh_connect) curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  if (strcmp(r->method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (strcmp(r->method, "GET") != 0 || r->send_body)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  if (r->ca_bundle) {
    /* CAINFO alone would replace the system CAs; CAPATH keeps them. */
    curl_easy_setopt(e, CURLOPT_CAINFO, getenv("TASKRUN_CA_BUNDLE"));
    curl_easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->connect_ms);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, (long)r->follow);
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
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
}

/* ---- the response ---- */

/* [-0, +1, m] Pushes s lower-cased. */
static void push_lower(lua_State *L, const char *s) {
  TR_STACK_BEGIN(L);
  size_t len = strlen(s);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, len);
  for (size_t i = 0; i < len; i++) p[i] = (char)tolower((unsigned char)s[i]);
  luaL_pushresultsize(&b, len);
  TR_STACK_END(L, 0, 1);
}

/* [-0, +1, m] Pushes s without the spaces and tabs around it. */
static void push_trimmed(lua_State *L, const char *s) {
  TR_STACK_BEGIN(L);
  while (*s == ' ' || *s == '\t') s++;
  size_t len = strlen(s);
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
  lua_pushlstring(L, s, len);
  TR_STACK_END(L, 0, 1);
}

/* [-0, +1, m] { name = value } of the last response (after redirects and 1xx), read by
 * libcurl's header API, which takes lines ending in CRLF or in LF alone. Names lower-cased;
 * repeats joined by ", ", collected in lists first so joining stays linear. The table of
 * repeats is made only when a name does repeat: most responses have none. `lines`: the
 * response's header lines, its status line and the blank line that ends them included (on_header
 * counts them): the table is made at the size they need, not grown. */
static void push_headers(lua_State *L, CURL *easy, size_t lines) {
  TR_STACK_BEGIN(L);
  lua_createtable(L, 0, lines > 2 && lines < MAX_HEADER_LINES ? (int)(lines - 2) : 0);
  int out = lua_gettop(L);
  lua_pushnil(L);
  int repeats = out + 1;   /* name -> { value, value, ... } for names sent more than once */
  struct curl_header *h = NULL;
  while ((h = curl_easy_nextheader(easy, CURLH_HEADER, -1, h))) {
    push_lower(L, h->name);
    push_trimmed(L, h->value);
    if (h->amount <= 1) {
      lua_rawset(L, out);
      continue;
    }
    if (lua_isnil(L, repeats)) {
      lua_newtable(L);
      lua_replace(L, repeats);
    }
    lua_pushvalue(L, -2);
    if (lua_rawget(L, repeats) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -3);
      lua_pushvalue(L, -2);
      lua_rawset(L, repeats);
    }
    lua_insert(L, -2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 2);
  }
  if (!lua_isnil(L, repeats)) {
    lua_pushnil(L);
    while (lua_next(L, repeats)) {
      int list = lua_gettop(L);
      lua_pushvalue(L, list - 1);
      push_joined(L, list, ", ");
      lua_rawset(L, out);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  TR_STACK_END(L, 0, 1);
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

/* The soft limit on open files, for the message when it ran out. */
static int fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > INT_MAX) return -1;
  return (int)rl.rlim_cur;
}

/* [-0, +0, v] Raises kind "transport" for a transfer that ended without a response. */
static int raise_transport(lua_State *L, http_req *r) {
  const char *url = r->safe_url ? r->safe_url : "(url)";
  long os_errno = r->socket_errno;
  if (!os_errno && r->easy) curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
  if (r->never_sent) {
    tr_push_error(L, "transport", "%s %s not sent: its timeout ran out while it waited for its "
                  "turn on %s; give it a longer timeout (or the wait a longer one), or raise "
                  "max_inflight or TASKRUN_MAX_INFLIGHT if the host can take more at once",
                  r->method, url, r->errbuf ? r->errbuf : "its host");
    lua_pushliteral(L, "timeout");
  } else if (r->start_error != CURLM_OK) {
    tr_push_error(L, "transport", "http: cannot start the transfer: %s",
                  curl_multi_strerror(r->start_error));
    lua_pushliteral(L, "other");
  } else if (r->headers_too_large) {
    tr_push_error(L, "transport", "%s %s: the response has more than %d header lines or %d "
                  "bytes of headers; the server or a proxy is misbehaving", r->method, url,
                  MAX_HEADER_LINES, (int)MAX_HEADER_BYTES);
    lua_pushliteral(L, "too_large");
  } else if (r->result == CURLE_BAD_FUNCTION_ARGUMENT && r->head_lines > 0) {
    /* libcurl's header store refuses a line it cannot place (a folded line with no header
     * before it) and says only "A libcurl function was given a bad argument". */
    tr_push_error(L, "transport", "%s %s: the response's headers are malformed (a continued "
                  "line with no header before it); the server or a proxy is misbehaving",
                  r->method, url);
    lua_pushliteral(L, "other");
  } else if (os_errno == EMFILE || os_errno == ENFILE) {
    /* libcurl says "Couldn't connect to server", which sends people to the network. */
    tr_push_error(L, "transport", "%s %s failed: the process ran out of file descriptors "
                  "(%s, limit %d); raise the limit (ulimit -n) or run fewer requests and waits "
                  "at once", r->method, url, os_errno == EMFILE ? "EMFILE: too many open files"
                  : "ENFILE: the system's file table is full", fd_limit());
    lua_pushstring(L, transport_cause(r->result));
  } else if (r->too_large || r->result == CURLE_FILESIZE_EXCEEDED) {
    lua_pushinteger(L, (lua_Integer)r->max_body);
    tr_push_error(L, "transport", "%s %s: the response is larger than the %s-byte cap; raise "
                  "max_body if it is expected", r->method, url, lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_pushliteral(L, "too_large");
  } else {
    const char *detail = r->errbuf && r->errbuf[0] ? r->errbuf
                         : curl_easy_strerror(r->result);
    tr_push_error(L, "transport", "%s %s failed: %s; check the URL, the network and the "
                  "service, then retry", r->method, url, detail);
    lua_pushstring(L, transport_cause(r->result));
  }
  lua_setfield(L, -2, "cause");
  if (r->never_sent || r->start_error != CURLM_OK) {
    /* Nothing reached the server: a call that starts something is not in doubt. */
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "sent");
  }
  lua_pushstring(L, url);
  lua_setfield(L, -2, "url");
  lua_pushinteger(L, r->result);
  lua_setfield(L, -2, "curl_code");
  return lua_error(L);
}

static int request_k(lua_State *L, int status, lua_KContext ctx) {
  http_req *r = luaL_checkudata(L, -1, REQ_MT);
  double took = tr_now() - r->started;
  if (r->result != CURLE_OK || r->start_error != CURLM_OK) {
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
  push_headers(L, r->easy, r->head_lines);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, r->body.p ? r->body.p : "", r->body.n);
  lua_setfield(L, -2, "body");
  if (retry_after > 0) {
    lua_pushinteger(L, (lua_Integer)retry_after);
    lua_setfield(L, -2, "retry_after");
  }
  if (r->safe_url_copy) lua_pushstring(L, r->safe_url);
  else lua_getiuservalue(L, -2, 2);   /* the URL as given: the same string again */
  lua_setfield(L, -2, "url");
  lua_pushstring(L, r->method);
  lua_setfield(L, -2, "method");
  lua_pushnumber(L, took);
  lua_setfield(L, -2, "elapsed");
  req_release(r);
  return 1;
}

/* request(opts [, timeout [, max_retry_after]]): [-(1|2|3), +1, e] waits for the response
 * table; raises kind "transport" when no response came, "usage" for bad options. HTTP error
 * statuses are responses, not errors. `timeout`, when not nil, is used instead of
 * opts.timeout, and `max_retry_after` when opts has none: taskrun.http caps a request by its
 * wait's deadline this way, without a table made per request. */
static int l_request(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 3);
  tr_sched_check_wait(L, "http.request");   /* before libcurl allocates anything: see sched.h */
  http_req *r = lua_newuserdatauv(L, sizeof *r, 2);
  memset(r, 0, sizeof *r);
  luaL_setmetatable(L, REQ_MT);
  if (!tr_loop_multi()) return luaL_error(L, "http: cannot initialise libcurl");
  r->op.cancel = on_cancel;
  r->xfer.done = on_done;
  tr_hostq_req_init(&r->slot, on_start, on_expire);
  push_options(L, 1);
  enum { UD = 4, O = 5 };
  if (!lua_isnil(L, 2)) {
    lua_pushvalue(L, 2);
    lua_replace(L, O + OPT_TIMEOUT);
  }
  if (!lua_isnil(L, 3) && lua_isnil(L, O + OPT_MAX_RETRY_AFTER)) {
    lua_pushvalue(L, 3);
    lua_replace(L, O + OPT_MAX_RETRY_AFTER);
  }
  lua_pushvalue(L, UD);   /* on the top for configure, which keeps the body in it */
  configure(L, r, O);
  lua_settop(L, UD);
  if (tr_sched_can_wait(L)) {
    tr_logf(TR_LOG_DEBUG, "http %s %s", r->method, r->safe_url ? r->safe_url : "");
    r->started = tr_now();
    r->deadline = r->started + r->timeout_ms / 1000.0;
    /* Starts it at once when its host has room; else it waits its turn in the queue. */
    if (tr_hostq_submit(&r->slot, r->url, r->max_inflight, r->rate, r->hold, r->deadline) != 0)
      return luaL_error(L, "out of memory");
    if (r->start_error != CURLM_OK)
      return tr_raise(L, "transport", "http: cannot start the transfer: %s",
                      curl_multi_strerror(r->start_error));
  }
  return tr_await(L, &r->op, "http.request", 0, request_k);
}

/* parse_rate(text): [-1, +1|2] "20/s" as requests per second; nil and what is wrong for a
 * text that is not a rate. */
static int l_parse_rate(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  double per_second;
  const char *why = "it holds a NUL byte";
  if (strlen(text) == len && tr_hostq_parse_rate(text, &per_second, &why) == 0) {
    lua_pushnumber(L, per_second);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, why);
  return 2;
}

int luaopen_taskrun_http(lua_State *L) {
  static const luaL_Reg funcs[] = { { "request", l_request }, { "parse_rate", l_parse_rate },
                                    { NULL, NULL } };
  luaL_newmetatable(L, REQ_MT);
  lua_pushcfunction(L, req_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
