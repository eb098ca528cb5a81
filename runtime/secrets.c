/* The secret registry and the redactor every output goes through (logs, the status block, the
 * runbook's print and io.write).
 *
 * A secret is stored with every form it takes in an output (escape.c writes them all), so the
 * redactor works on the final bytes: whatever path a token took into a line, raw or escaped,
 * it is found there. The scan is one pass: a table of first bytes lets most bytes through at
 * the cost of one lookup, a bitmap of first byte pairs rejects most candidates, and only then
 * are the forms starting with that byte compared, longest first.
 *
 * Any length counts: a secret of 1 or 2 bytes is redacted wherever those bytes appear, which
 * spoils ordinary text but never shows the secret. Whoever registers one asked for that. */
#include "secrets.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"

enum { FIRST_ONE = 1, FIRST_MANY = 2, FIRST_URL = 4 };

typedef struct {
  char *p;
  size_t n;
} form;

static struct {
  form *raw, *forms;          /* the secrets as registered; all their forms */
  size_t nraw, capraw, nforms, capforms;
  int ready;                  /* the tables below describe forms */
  unsigned char first[256];   /* FIRST_ONE: a 1-byte form; FIRST_MANY: a longer one starts here */
  uint8_t pair[65536 / 8];    /* bit b0 << 8 | b1: a form of 2+ bytes starts with b0 b1 */
  size_t bucket[257];         /* forms[bucket[c] .. bucket[c + 1]) start with byte c */
} S;

static int push(form **v, size_t *n, size_t *cap, const char *p, size_t len) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    form *grown = realloc(*v, c * sizeof *grown);
    if (!grown) return -1;
    *v = grown;
    *cap = c;
  }
  char *copy = malloc(len + 1);
  if (!copy) return -1;
  memcpy(copy, p, len);
  copy[len] = '\0';
  (*v)[(*n)++] = (form){ copy, len };
  return 0;
}

void tr_secret_add(const char *s, size_t len) {
  if (!s || len == 0) return;
  for (size_t i = 0; i < S.nraw; i++)
    if (S.raw[i].n == len && memcmp(S.raw[i].p, s, len) == 0) return;
  if (push(&S.raw, &S.nraw, &S.capraw, s, len) != 0) return;
  /* Every encoding an output may put the secret in; equal ones are kept once. */
  tr_buf enc[11] = { { 0 } };
  tr_buf_put(&enc[0], s, len);
  tr_escape_json(&enc[1], s, len, TR_JSON_LOG);
  tr_escape_json(&enc[2], s, len, TR_JSON_CJSON);
  tr_escape_text(&enc[3], s, len, TR_TEXT_LINE);
  tr_escape_text(&enc[4], s, len, TR_TEXT_BLOCK);
  tr_escape_url(&enc[5], s, len, 0);
  tr_escape_url(&enc[6], s, len, 1);
  tr_escape_status(&enc[7], s, len);
  /* The JSON form of the text form: a log message quoted as a value of another line. */
  tr_escape_json(&enc[8], enc[3].p, enc[3].n, TR_JSON_LOG);
  tr_escape_json(&enc[9], s, len, TR_JSON_UPPER);
  tr_escape_json(&enc[10], s, len, TR_JSON_GO);
  for (size_t k = 0; k < sizeof enc / sizeof enc[0]; k++) {
    int seen = enc[k].failed || enc[k].n == 0;
    for (size_t j = 0; j < k && !seen; j++)
      seen = enc[j].n == enc[k].n && memcmp(enc[j].p, enc[k].p, enc[k].n) == 0;
    if (!seen) push(&S.forms, &S.nforms, &S.capforms, enc[k].p, enc[k].n);
  }
  for (size_t k = 0; k < sizeof enc / sizeof enc[0]; k++) free(enc[k].p);
  S.ready = 0;
}

void tr_log_add_secret(const char *secret) {
  if (secret) tr_secret_add(secret, strlen(secret));
}

void tr_log_free_secrets(void) {
  for (size_t i = 0; i < S.nraw; i++) free(S.raw[i].p);
  for (size_t i = 0; i < S.nforms; i++) free(S.forms[i].p);
  free(S.raw);
  free(S.forms);
  memset(&S, 0, sizeof S);
}

/* ---- the scan ---- */

static int by_first_then_longest(const void *a, const void *b) {
  const form *x = a, *y = b;
  unsigned char cx = (unsigned char)x->p[0], cy = (unsigned char)y->p[0];
  if (cx != cy) return cx < cy ? -1 : 1;
  if (x->n != y->n) return x->n > y->n ? -1 : 1;
  return 0;
}

static void prepare(void) {
  if (S.ready) return;
  if (S.nforms) qsort(S.forms, S.nforms, sizeof *S.forms, by_first_then_longest);
  memset(S.first, 0, sizeof S.first);
  memset(S.pair, 0, sizeof S.pair);
  memset(S.bucket, 0, sizeof S.bucket);
  for (size_t i = 0; i < S.nforms; i++) {
    const unsigned char *p = (const unsigned char *)S.forms[i].p;
    S.bucket[p[0] + 1]++;
    if (S.forms[i].n == 1) {
      S.first[p[0]] |= FIRST_ONE;
    } else {
      S.first[p[0]] |= FIRST_MANY;
      unsigned two = (unsigned)p[0] << 8 | p[1];
      S.pair[two >> 3] |= (uint8_t)(1u << (two & 7));
    }
  }
  for (int c = 0; c < 256; c++) S.bucket[c + 1] += S.bucket[c];
  S.first[':'] |= FIRST_URL;
  S.ready = 1;
}

/* The length of the longest form at s[i], or 0. */
static size_t match_at(const unsigned char *s, size_t len, size_t i) {
  unsigned char c = s[i];
  if (!(S.first[c] & FIRST_ONE)) {
    if (!(S.first[c] & FIRST_MANY) || i + 1 >= len) return 0;
    unsigned two = (unsigned)c << 8 | s[i + 1];
    if (!(S.pair[two >> 3] & (1u << (two & 7)))) return 0;
  }
  for (size_t k = S.bucket[c]; k < S.bucket[c + 1]; k++) {
    const form *f = &S.forms[k];
    if (f->n <= len - i && memcmp(s + i, f->p, f->n) == 0) return f->n;
  }
  return 0;
}

/* The start of the valid UTF-8 character holding s[pos] (not before lo), or pos. A mask never
 * cuts a character in two: the output stays valid UTF-8 where the input was. */
static size_t char_start(const unsigned char *s, size_t len, size_t lo, size_t pos) {
  size_t j = pos;
  while (j > lo && pos - j < 3 && (s[j] & 0xc0) == 0x80) j--;
  if (j == pos) return pos;
  size_t n = tr_utf8_char(s + j, len - j);
  return n && j + n > pos ? j : pos;
}

static int scheme_char(unsigned char c) {
  return isalnum(c) || c == '+' || c == '-' || c == '.';
}

/* Where a URL written in a message ends: quotes, brackets of markup, space, controls. */
static int url_stop(unsigned char c) {
  return c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
         c == '`';
}

/* A URL's token, found once and reused by each "://" inside it, so that a text of many
 * "://" is still scanned in linear time. */
typedef struct {
  size_t from, end, last_at;   /* the token [from, end) up to a space; its last '@' or 0 */
  size_t space_at;             /* the '@' past the space (see below), 0 none, 1 not looked for */
} url_token;

/* s[i] is ':'. For "scheme://user:PASSWORD@host", returns the password's start and sets *to to
 * its end (the '@'); 0 otherwise. A URL that does not parse must not show its password either:
 * the '@' is the last of the URL, so a password holding '@', '/', '#' or '?' is masked whole;
 * and when the URL stops at a space with no '@', the password may hold spaces and runs to the
 * next '@', as long as no '/', '?' or '#' comes first (then it was not a password). */
static size_t url_password(const unsigned char *s, size_t len, size_t i, url_token *t,
                           size_t *to) {
  if (i == 0 || len - i < 3 || s[i + 1] != '/' || s[i + 2] != '/' || !scheme_char(s[i - 1]))
    return 0;
  size_t a = i + 3;
  if (!(a >= t->from && a <= t->end)) {
    t->from = a;
    t->end = a;
    t->last_at = 0;
    t->space_at = 1;
    while (t->end < len && !url_stop(s[t->end])) {
      if (s[t->end] == '@') t->last_at = t->end;
      t->end++;
    }
  }
  size_t colon = 0;
  for (size_t j = a; j < t->end && !colon; j++) {
    if (s[j] == '/' || s[j] == '?' || s[j] == '#' || s[j] == '@') return 0;
    if (s[j] == ':') colon = j;
  }
  if (!colon) return 0;
  if (t->last_at > colon + 1) {
    *to = t->last_at;
    return colon + 1;
  }
  if (t->last_at > colon || t->end >= len || s[t->end] != ' ') return 0;
  if (t->space_at == 1) {
    t->space_at = 0;
    for (size_t j = t->end; j < len; j++) {
      unsigned char c = s[j];
      if ((c != ' ' && url_stop(c)) || c == '/' || c == '?' || c == '#') break;
      if (c == '@') {
        t->space_at = j;
        break;
      }
    }
  }
  *to = t->space_at;
  return t->space_at ? colon + 1 : 0;
}

/* The redactor. With keep_same, returns NULL when nothing matched. Sets *failed (and returns
 * NULL) when out of memory. */
static char *redact(const char *text, size_t len, size_t *outlen, int keep_same, int *failed) {
  const unsigned char *s = (const unsigned char *)text;
  tr_buf b = { 0 };
  size_t copied = 0, pw_from = SIZE_MAX, pw_to = 0;
  url_token tok = { 1, 0, 0, 1 };
  int changed = 0;
  prepare();
  for (size_t i = 0; i < len;) {
    if (i == pw_from) {
      tr_buf_put(&b, s + copied, i - copied);
      tr_buf_puts(&b, TR_REDACTED);
      i = copied = pw_to;
      pw_from = SIZE_MAX;
      changed = 1;
      continue;
    }
    unsigned char f = S.first[s[i]];
    if (!f) { i++; continue; }
    size_t to;
    if ((f & FIRST_URL) && pw_from == SIZE_MAX) {
      size_t at = url_password(s, len, i, &tok, &to);
      if (at) { pw_from = at; pw_to = to; }
    }
    size_t hit = f & (FIRST_ONE | FIRST_MANY) ? match_at(s, len, i) : 0;
    if (!hit) { i++; continue; }
    size_t start = char_start(s, len, copied, i), end = i + hit;
    size_t last = char_start(s, len, copied, end - 1), n = tr_utf8_char(s + last, len - last);
    if (n && last + n > end) end = last + n;
    if (pw_from != SIZE_MAX && end > pw_from) {
      if (end < pw_to) end = pw_to;
      pw_from = SIZE_MAX;
    }
    tr_buf_put(&b, s + copied, start - copied);
    tr_buf_puts(&b, TR_REDACTED);
    i = copied = end;
    changed = 1;
  }
  if (!changed && keep_same) return NULL;
  tr_buf_put(&b, s + copied, len - copied);
  tr_buf_put(&b, "", 1);
  if (b.failed) {
    /* Out of memory: better nothing than the secret. */
    free(b.p);
    *failed = 1;
    return NULL;
  }
  if (outlen) *outlen = b.n - 1;
  return b.p;
}

char *tr_redact(const char *s, size_t len, size_t *outlen) {
  int failed = 0;
  char *out = redact(s, len, outlen, 0, &failed);
  if (!out && !failed && (out = malloc(1))) {   /* len == 0 */
    out[0] = '\0';
    if (outlen) *outlen = 0;
  }
  return out;
}

char *tr_redact_changed(const char *s, size_t len, size_t *outlen, int *failed) {
  *failed = 0;
  return redact(s, len, outlen, 1, failed);
}

/* ---- start-up: the environment ---- */

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
         c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void add_decoded(const char *p, size_t n) {
  tr_secret_add(p, n);
  if (!memchr(p, '%', n)) return;
  char *d = malloc(n);
  if (!d) return;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 &&
        (lo = hexval(p[i + 2])) >= 0) {
      d[k++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      d[k++] = p[i];
    }
  }
  tr_secret_add(d, k);
  free(d);
}

static void add_userinfo_password(const char *from, const char *at) {
  const char *colon = memchr(from, ':', (size_t)(at - from));
  if (colon && colon + 1 < at) add_decoded(colon + 1, (size_t)(at - colon - 1));
}

void tr_secret_add_url_password(const char *url) {
  if (!url) return;
  const char *from = strstr(url, "://");
  from = from ? from + 3 : url;
  /* The first '@' is right for a well-formed URL, the last for a password holding '@': a
   * malformed URL is a reason to mask more, not less. */
  const char *first = strchr(from, '@'), *last = strrchr(from, '@');
  if (first) add_userinfo_password(from, first);
  if (last && last != first) add_userinfo_password(from, last);
}

/* A file's contents, when it is a readable regular file of at most 64 KiB; trimmed of the
 * whitespace and newline around a token. Never blocks on a FIFO or a terminal. */
static void add_file(const char *path) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return;
  struct stat st;
  char *buf = NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= 65536 &&
      (buf = malloc((size_t)st.st_size + 1))) {
    size_t n = 0;
    ssize_t got;
    while (n < (size_t)st.st_size && (got = read(fd, buf + n, (size_t)st.st_size - n)) > 0)
      n += (size_t)got;
    size_t from = 0;
    while (from < n && isspace((unsigned char)buf[from])) from++;
    while (n > from && isspace((unsigned char)buf[n - 1])) n--;
    tr_secret_add(buf + from, n - from);
  }
  free(buf);
  close(fd);
}

typedef enum { SECRET_VALUE, SECRET_URL } secret_how;

/* The credentials the product reads by name: one line each. A URL whose password is secret is
 * { "NAME", SECRET_URL }. Names matching the suffixes below need no line, but the product's
 * own are listed so that renaming a suffix never drops them. */
static const struct { const char *name; secret_how how; } known_vars[] = {
  { "REDPANDA_TOKEN", SECRET_VALUE },
  { "KEYCARD_TOKEN", SECRET_VALUE },
  { "ASTRA_TOKEN", SECRET_VALUE },
  { "BLUEXP_TOKEN", SECRET_VALUE },
};

/* Any variable named so holds a credential (case ignored): *_CLIENT_SECRET, *_REFRESH_TOKEN
 * included. */
static const char *const value_suffixes[] = { "_TOKEN", "_SECRET", "_PASSWORD" };

static int ends_with(const char *name, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n > k && strncasecmp(name + n - k, suffix, k) == 0;
}

/* How the variable NAME (n bytes, no '=') holds a secret: 1 value, 2 URL, 0 none. */
static int secret_kind(const char *name, size_t n) {
  for (size_t i = 0; i < sizeof known_vars / sizeof known_vars[0]; i++)
    if (strlen(known_vars[i].name) == n && strncmp(known_vars[i].name, name, n) == 0)
      return known_vars[i].how == SECRET_URL ? 2 : 1;
  for (size_t i = 0; i < sizeof value_suffixes / sizeof value_suffixes[0]; i++)
    if (ends_with(name, n, value_suffixes[i])) return 1;
  /* Proxies as libcurl reads them (http_proxy, HTTPS_PROXY, ALL_PROXY...), NO_PROXY aside. */
  if (ends_with(name, n, "_PROXY") && !(n == 8 && strncasecmp(name, "no_proxy", 8) == 0))
    return 2;
  return 0;
}

void tr_secrets_from_env(void) {
  for (char **e = environ; e && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq || !eq[1]) continue;
    size_t n = (size_t)(eq - *e);
    int kind = secret_kind(*e, n);
    if (kind == 1) tr_secret_add(eq + 1, strlen(eq + 1));
    else if (kind == 2) tr_secret_add_url_password(eq + 1);
    else if (ends_with(*e, n, "_FILE") && secret_kind(*e, n - 5) == 1) add_file(eq + 1);
  }
}
