/* Encodings of untrusted text for taskrun's outputs: see escape.h. Every function here is
 * context-free byte by byte except for UTF-8, where an invalid byte is handled alone and the
 * decoding starts again at the next byte; so the encoding of a string inside a longer text is
 * the encoding of the string itself, which is what lets the redactor find a secret's forms. */
#include "escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tr_buf_grow(tr_buf *b, size_t len) {
  if (b->failed) return NULL;
  if (len > b->cap - b->n || !b->p) {
    size_t cap = (b->n + len) * 2 + 64;
    char *p = realloc(b->p, cap);
    if (!p) { b->failed = 1; return NULL; }
    b->p = p;
    b->cap = cap;
  }
  b->n += len;
  return b->p + b->n - len;
}

void tr_buf_put(tr_buf *b, const void *s, size_t len) {
  if (len == 0) return;
  char *p = tr_buf_grow(b, len);
  if (p) memcpy(p, s, len);
}

void tr_buf_puts(tr_buf *b, const char *s) { tr_buf_put(b, s, strlen(s)); }

size_t tr_utf8_char(const unsigned char *s, size_t len) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;   /* the range of the second byte */
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c == 0xe0) { n = 3; lo = 0xa0; }
  else if (c == 0xed) { n = 3; hi = 0x9f; }             /* no surrogates */
  else if (c >= 0xe1 && c <= 0xef) n = 3;
  else if (c == 0xf0) { n = 4; lo = 0x90; }
  else if (c >= 0xf1 && c <= 0xf3) n = 4;
  else if (c == 0xf4) { n = 4; hi = 0x8f; }             /* nothing past U+10FFFF */
  else return 0;
  if (len < n || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  return n;
}

/* U+0080..U+009F, the C1 controls (CSI is U+009B), encoded as C2 80..C2 9F. */
static int is_c1(const unsigned char *s, size_t n) {
  return n == 2 && s[0] == 0xc2 && s[1] <= 0x9f;
}

/* U+2028 and U+2029, which Go's encoder escapes (JavaScript reads them as line ends). */
static int is_line_separator(const unsigned char *s, size_t n) {
  return n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9);
}

static void put_hex(tr_buf *b, const char *fmt, unsigned v) {
  char e[8];
  snprintf(e, sizeof e, fmt, v);
  tr_buf_puts(b, e);
}

void tr_escape_json(tr_buf *b, const char *s, size_t len, tr_json_style style) {
  const unsigned char *u = (const unsigned char *)s;
  const char *hex = style == TR_JSON_UPPER ? "\\u%04X" : "\\u%04x";
  int go = style == TR_JSON_GO;
  for (size_t i = 0; i < len;) {
    unsigned char c = u[i];
    const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" :
                    c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '\b' && !go ? "\\b" :
                    c == '\f' && !go ? "\\f" : c == '/' && style == TR_JSON_CJSON ? "\\/" : NULL;
    if (e) { tr_buf_puts(b, e); i++; continue; }
    int hexed = go ? c < 0x20 || c == '<' || c == '>' || c == '&' : c < 0x20 || c == 0x7f;
    if (hexed) { put_hex(b, hex, c); i++; continue; }
    if (c < 0x80 || style == TR_JSON_CJSON) { tr_buf_put(b, u + i, 1); i++; continue; }
    size_t n = tr_utf8_char(u + i, len - i);
    if (n == 0) { tr_buf_puts(b, "\\ufffd"); i++; continue; }
    if (!go && is_c1(u + i, n)) put_hex(b, hex, u[i + 1]);
    else if (go && is_line_separator(u + i, n)) put_hex(b, hex, 0x2000u | (u[i + 2] & 0x3fu));
    else tr_buf_put(b, u + i, n);
    i += n;
  }
}

void tr_escape_text(tr_buf *b, const char *s, size_t len, tr_text_style style) {
  const unsigned char *u = (const unsigned char *)s;
  int block = style == TR_TEXT_BLOCK;
  for (size_t i = 0; i < len;) {
    unsigned char c = u[i];
    if (block && c == '\n') {
      int tabbed = i + 1 < len && u[i + 1] == '\t';
      tr_buf_put(b, "\n\t", tabbed ? 1 : 2);
      i++;
      continue;
    }
    if (block && c == '\t') { tr_buf_put(b, "\t", 1); i++; continue; }
    const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
    if (e) { tr_buf_puts(b, e); i++; continue; }
    if (c < 0x20 || c == 0x7f) { put_hex(b, "\\x%02x", c); i++; continue; }
    if (c < 0x80) { tr_buf_put(b, u + i, 1); i++; continue; }
    size_t n = tr_utf8_char(u + i, len - i);
    if (n == 0) { put_hex(b, "\\x%02x", c); i++; continue; }
    if (is_c1(u + i, n)) { put_hex(b, "\\x%02x", u[i]); put_hex(b, "\\x%02x", u[i + 1]); }
    else tr_buf_put(b, u + i, n);
    i += n;
  }
}

void tr_escape_url(tr_buf *b, const char *s, size_t len, int lower) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~')
      tr_buf_put(b, &c, 1);
    else
      put_hex(b, lower ? "%%%02x" : "%%%02X", c);
  }
}

void tr_escape_status(tr_buf *b, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    tr_buf_put(b, c < 0x20 || c == 0x7f ? "?" : s + i, 1);
  }
}
