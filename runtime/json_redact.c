/* A JSON copier that drops the values of sensitive members: a recursive descent over the text
 * (no tree), writing what it reads, or nothing while it skips a redacted value. */
#include "json_redact.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1000

/* What a member's name may hold for its value to be a credential. */
static const char *const sensitive[] = {
  "secret", "token", "password", "credential", "authorization", "cookie", "api_key",
};

typedef struct {
  const char *p, *end;
  tr_buf *out;               /* NULL while skipping a redacted value */
  int depth;
} scan;

static void emit(scan *s, const char *from, size_t n) {
  if (s->out) tr_buf_put(s->out, from, n);
}

static void skip_ws(scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static int hex4(const char *p, const char *end, unsigned *v) {
  if (end - p < 4) return -1;
  *v = 0;
  for (int i = 0; i < 4; i++) {
    int c = (unsigned char)p[i];
    if (!isxdigit(c)) return -1;
    *v = *v * 16 + (unsigned)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
  }
  return 0;
}

/* A string at s->p (its opening quote), copied as is; with `name` set, also its text decoded
 * for matching (lower case, '-' as '_', non-ASCII as '?'). */
static int string(scan *s, tr_buf *name) {
  const char *start = s->p++;
  while (s->p < s->end && *s->p != '"') {
    char c = *s->p++;
    if ((unsigned char)c < 0x20) return -1;
    if (c == '\\') {
      if (s->p >= s->end) return -1;
      char e = *s->p++;
      unsigned u = 0;
      switch (e) {
      case 'u':
        if (hex4(s->p, s->end, &u) != 0) return -1;
        s->p += 4;
        c = u < 0x80 ? (char)u : '?';
        break;
      case 'n': c = '\n'; break;
      case 't': c = '\t'; break;
      case 'r': c = '\r'; break;
      case 'b': c = '\b'; break;
      case 'f': c = '\f'; break;
      case '"': case '\\': case '/': c = e; break;
      default: return -1;
      }
    }
    if (name) {
      char k = (unsigned char)c >= 0x80 ? '?' : c == '-' ? '_' : (char)tolower((unsigned char)c);
      tr_buf_put(name, &k, 1);
    }
  }
  if (s->p >= s->end) return -1;
  s->p++;
  emit(s, start, (size_t)(s->p - start));
  return 0;
}

static int is_sensitive(tr_buf *name) {
  tr_buf_put(name, "", 1);
  if (name->failed) return 1;   /* cannot tell: the safe side */
  for (size_t i = 0; i < sizeof sensitive / sizeof *sensitive; i++)
    if (strstr(name->p, sensitive[i])) return 1;
  return 0;
}

static int value(scan *s);

/* An object or an array at s->p. */
static int container(scan *s) {
  char close = *s->p == '{' ? '}' : ']';
  int object = close == '}';
  if (++s->depth > MAX_DEPTH) return -1;
  emit(s, s->p++, 1);
  skip_ws(s);
  if (s->p < s->end && *s->p == close) {
    emit(s, s->p++, 1);
    s->depth--;
    return 0;
  }
  for (;;) {
    skip_ws(s);
    if (object) {
      if (s->p >= s->end || *s->p != '"') return -1;
      tr_buf name = { 0 };
      int rc = string(s, &name);
      int hide = rc == 0 && is_sensitive(&name);
      free(name.p);
      if (rc != 0) return -1;
      skip_ws(s);
      if (s->p >= s->end || *s->p != ':') return -1;
      emit(s, s->p++, 1);
      if (hide) {
        tr_buf *out = s->out;
        s->out = NULL;
        rc = value(s);
        s->out = out;
        if (rc != 0) return -1;
        emit(s, TR_JSON_REDACTED, strlen(TR_JSON_REDACTED));
      } else if (value(s) != 0) {
        return -1;
      }
    } else if (value(s) != 0) {
      return -1;
    }
    skip_ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == close) break;
    if (*s->p != ',') return -1;
    emit(s, s->p++, 1);
  }
  emit(s, s->p++, 1);
  s->depth--;
  return 0;
}

/* A scalar other than a string: a number, true, false or null (read loosely: their bytes). */
static int scalar(scan *s) {
  const char *start = s->p;
  while (s->p < s->end && (isalnum((unsigned char)*s->p) || *s->p == '-' || *s->p == '+' ||
                           *s->p == '.'))
    s->p++;
  if (s->p == start) return -1;
  emit(s, start, (size_t)(s->p - start));
  return 0;
}

static int value(scan *s) {
  skip_ws(s);
  if (s->p >= s->end) return -1;
  if (*s->p == '{' || *s->p == '[') return container(s);
  if (*s->p == '"') return string(s, NULL);
  return scalar(s);
}

int tr_json_redact(tr_buf *b, const char *json, size_t len) {
  tr_buf out = { 0 };
  scan s = { json, json + len, &out, 0 };
  int rc = value(&s);
  skip_ws(&s);
  if (rc == 0 && s.p == s.end && !out.failed) {
    tr_buf_put(b, out.p, out.n);
  } else {
    rc = -1;
    tr_buf_puts(b, TR_JSON_REDACTED);
  }
  free(out.p);
  return rc;
}
