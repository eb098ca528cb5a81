/* libFuzzer target: no registered secret survives any output path. The input registers one to
 * four secrets (any length, any byte but NUL and newline), then its rest goes through every way
 * taskrun writes: tr_redact, log lines as text and as JSON (message, fields, error reports), and
 * the runbook's own print, io.write, io.stdout/io.stderr:write and taskrun.log. Each write is
 * captured on its own (stdout and stderr point at a memfd meanwhile) and searched for every
 * secret, raw and in its escaped forms (JSON \" \\ \t \u00XX, C-style \xNN). */
#include <lauxlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "host.h"
#include "log.h"

#define MASK "[REDACTED]"
#define MAX_SECRETS 4

static lua_State *L;
static int cap_fd, saved_out, saved_err;
static char secrets[MAX_SECRETS][40];
static size_t nsecrets;
static const char *current_path;

/* Each Lua output path is one function of the text. */
static const char lua_paths[] =
  "local text = ...\n"
  "return {\n"
  "  print = function() print(text) end,\n"
  "  io_write = function() io.write(text) end,\n"
  "  stdout_write = function() io.stdout:write(text) end,\n"
  "  stderr_write = function() io.stderr:write(text) end,\n"
  "  log_info = function() taskrun.log.info(text, { detail = text, n = 1 }) end,\n"
  "  log_error = function() taskrun.log.error('vendor said', { message = text }) end,\n"
  "  print_error = function() print(tostring(taskrun.error('http', text))) end,\n"
  "}\n";

static void capture_begin(const char *path) {
  current_path = path;
  fflush(stdout);
  fflush(stderr);
  if (ftruncate(cap_fd, 0) != 0 || lseek(cap_fd, 0, SEEK_SET) != 0) tr_fuzz_die("memfd");
  dup2(cap_fd, STDOUT_FILENO);
  dup2(cap_fd, STDERR_FILENO);
}

/* Returns the captured bytes (malloc'd) with stdout and stderr restored. */
static char *capture_end(size_t *len) {
  fflush(stdout);
  fflush(stderr);
  dup2(saved_out, STDOUT_FILENO);
  dup2(saved_err, STDERR_FILENO);
  off_t end = lseek(cap_fd, 0, SEEK_END);
  char *out = malloc((size_t)end + 1);
  if (!out) tr_fuzz_die("out of memory");
  ssize_t got = pread(cap_fd, out, (size_t)end, 0);
  *len = got > 0 ? (size_t)got : 0;
  out[*len] = '\0';
  return out;
}

/* The escaped forms of a secret that differ from it: one per escaping style. */
static size_t escape(const char *s, char *out, size_t cap, int style) {
  size_t n = 0;
  int changed = 0;
  for (; *s && n + 8 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    const char *short_esc = NULL;
    if (c == '"') short_esc = "\\\"";
    else if (c == '\\') short_esc = "\\\\";
    else if (c == '\t') short_esc = "\\t";
    else if (c == '\r') short_esc = "\\r";
    else if (style == 1 && c == '\b') short_esc = "\\b";
    else if (style == 1 && c == '\f') short_esc = "\\f";
    if (short_esc && style != 2) {
      n += (size_t)snprintf(out + n, cap - n, "%s", short_esc);
      changed = 1;
    } else if (c < 0x20 || c == 0x7f || (style == 2 && c >= 0x80)) {
      const char *fmt = style == 2 ? "\\x%02x" : style == 1 ? "\\u%04X" : "\\u%04x";
      n += (size_t)snprintf(out + n, cap - n, fmt, c);
      changed = 1;
    } else {
      out[n++] = (char)c;
    }
  }
  out[n] = '\0';
  return changed ? n : 0;
}

static int overlaps_mask(const char *out, size_t len, size_t at, size_t n) {
  size_t m = sizeof MASK - 1;
  size_t from = at >= m ? at - m + 1 : 0;
  for (size_t i = from; i < at + n && i + m <= len; i++)
    if (memcmp(out + i, MASK, m) == 0) return 1;
  return 0;
}

static void leaked(const char *out, size_t len, const char *secret, const char *form) {
  fprintf(stderr, "fuzz: secret \"%s\" survived (%s) through %s in %zu bytes:\n", secret, form,
          current_path, len);
  fwrite(out, 1, len > 2000 ? 2000 : len, stderr);
  fputc('\n', stderr);
  abort();
}

/* Occurrences of `needle` that are not a piece of a mask; escaped forms count only where an
 * escape starts (after an even run of backslashes), so "\\t" in the text is not "\t". */
static void search(const char *out, size_t len, const char *needle, size_t n, int escaped,
                   const char *secret, const char *form) {
  if (n == 0 || n > len) return;
  for (const char *p = out; (p = memmem(p, len - (size_t)(p - out), needle, n)); p++) {
    size_t at = (size_t)(p - out);
    if (overlaps_mask(out, len, at, n)) continue;
    if (escaped) {
      size_t bs = 0;
      while (bs < at && out[at - bs - 1] == '\\') bs++;
      if (bs % 2) continue;
    }
    leaked(out, len, secret, form);
  }
}

static void check(char *out, size_t len) {
  static const char *const forms[] = { "JSON-escaped", "JSON-escaped", "C-escaped" };
  char esc[40 * 8];
  for (size_t k = 0; k < nsecrets; k++) {
    search(out, len, secrets[k], strlen(secrets[k]), 0, secrets[k], "raw");
    for (int style = 0; style < 3; style++) {
      size_t n = escape(secrets[k], esc, sizeof esc, style);
      search(out, len, esc, n, 1, secrets[k], forms[style]);
    }
  }
  free(out);
}

static void run_c_paths(const char *text, size_t len) {
  size_t n = 0;
  char *red = tr_redact(text, len, &n);
  if (!red) return;
  current_path = "tr_redact";
  check(red, n);
  const tr_log_field fields[] = { { "detail", text, 1 }, { "count", "3", 0 } };
  for (int json = 0; json < 2; json++) {
    tr_log_configure(TR_LOG_DEBUG, json, 0);
    capture_begin(json ? "tr_log (json)" : "tr_log (text)");
    tr_log(TR_LOG_WARN, text, fields, 2);
    check(capture_end(&n), n);
    capture_begin(json ? "tr_log_report (json)" : "tr_log_report (text)");
    tr_log_report(text, text);
    check(capture_end(&n), n);
    capture_begin(json ? "tr_logf (json)" : "tr_logf (text)");
    tr_logf(TR_LOG_INFO, "got %s", text);
    check(capture_end(&n), n);
  }
}

static void run_lua_paths(const char *text, size_t len) {
  int base = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.paths");
  lua_pushlstring(L, text, len);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) tr_fuzz_die(lua_tostring(L, -1));
  int paths = lua_gettop(L);
  for (int json = 0; json < 2; json++) {
    tr_log_configure(TR_LOG_DEBUG, json, 0);
    lua_pushnil(L);
    while (lua_next(L, paths)) {
      char name[64];
      snprintf(name, sizeof name, "%s (%s logs)", lua_tostring(L, -2), json ? "json" : "text");
      capture_begin(name);
      int rc = lua_pcall(L, 0, 0, 0);
      size_t n = 0;
      char *out = capture_end(&n);
      if (rc != LUA_OK) {
        fprintf(stderr, "fuzz: %s raised %s\n", name, luaL_tolstring(L, -1, NULL));
        abort();
      }
      check(out, n);
    }
  }
  lua_settop(L, base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  cap_fd = memfd_create("fuzz-capture", 0);
  saved_out = dup(STDOUT_FILENO);
  saved_err = dup(STDERR_FILENO);
  if (cap_fd < 0 || saved_out < 0 || saved_err < 0) tr_fuzz_die("cannot set up the capture");
  static char *no_args[] = { NULL };
  L = tr_host_new("fuzz", "redact", no_args, 0);
  if (!L) tr_fuzz_die("tr_host_new failed");
  if (luaL_loadbuffer(L, lua_paths, sizeof lua_paths - 1, "=paths") != LUA_OK)
    tr_fuzz_die(lua_tostring(L, -1));
  lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.paths");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t want = 1 + (data[0] & 3), at = 1;
  tr_log_free_secrets();
  nsecrets = 0;
  for (size_t k = 0; k < want && at < size; k++) {
    size_t len = data[at++] % 32, n = 0;
    char *s = secrets[nsecrets];
    for (; n < len && at < size; at++) {
      if (data[at] == '\0' || data[at] == '\n') continue;
      s[n++] = (char)data[at];
    }
    s[n] = '\0';
    if (n == 0) continue;
    tr_log_add_secret(s);
    nsecrets++;
  }
  const char *text = (const char *)data + at;
  size_t len = size - at;
  char *copy = malloc(len + 1);   /* the log functions take C strings */
  if (!copy) return 0;
  memcpy(copy, text, len);
  copy[len] = '\0';
  run_c_paths(copy, len);
  run_lua_paths(copy, len);
  free(copy);
  /* Garbage collected now: a leak check sees balanced allocations and skips its costly scan. */
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
