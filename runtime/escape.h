/* The encodings taskrun's outputs use for text it did not write itself: JSON strings, text log
 * lines, URL percent-encoding, the status block. The logger writes with these, and the redactor
 * derives from them every form a secret can take in the output, so one function decides both. */
#ifndef TR_ESCAPE_H
#define TR_ESCAPE_H
#include <stddef.h>

/* A growable byte buffer; after a failed allocation it keeps what it had and drops the rest. */
typedef struct {
  char *p;
  size_t n, cap;
  int failed;
} tr_buf;

void tr_buf_put(tr_buf *b, const void *s, size_t len);
/* Makes room for len more bytes and counts them in: their address (the caller writes them), or
 * NULL when memory ran out. */
char *tr_buf_grow(tr_buf *b, size_t len);
void tr_buf_puts(tr_buf *b, const char *s);

/* The length of the valid UTF-8 character at s (1..4), or 0 when the byte at s does not start
 * one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, cut short). */
size_t tr_utf8_char(const unsigned char *s, size_t len);

typedef enum {
  TR_JSON_LOG,    /* taskrun's JSON logs: C0, DEL and C1 as \u00xx, invalid UTF-8 as \ufffd */
  TR_JSON_CJSON,  /* lua-cjson's json.encode: '/' as \/, C0 and DEL escaped, other bytes raw */
  TR_JSON_UPPER,  /* as TR_JSON_LOG with upper-case hex (\u001B): how other encoders, Java's
                   * among them, write a vendor's echo of a secret */
  TR_JSON_GO      /* as Go's encoding/json writes a vendor's echo: \b and \f as \u0008 and
                   * \u000c, <, > and & as \u003c, \u003e and \u0026, U+2028 and U+2029
                   * escaped, C1 raw, invalid UTF-8 as \ufffd */
} tr_json_style;

/* Appends s as the inside of a JSON string (no quotes). */
void tr_escape_json(tr_buf *b, const char *s, size_t len, tr_json_style style);

typedef enum {
  TR_TEXT_LINE,   /* one line: \n, \r, \t, and \xNN for other C0, DEL, C1 and invalid UTF-8 */
  TR_TEXT_BLOCK   /* the same, but newlines and tabs stay, and every line after the first is
                   * indented by a tab: a forged line never starts at the margin */
} tr_text_style;

/* Appends s with every byte that could move the cursor or start a terminal escape sequence
 * (ESC, CSI, ...) written as a visible escape. */
void tr_escape_text(tr_buf *b, const char *s, size_t len, tr_text_style style);

/* Appends s percent-encoded as libcurl does (RFC 3986 unreserved bytes kept), with upper- or
 * lower-case hex digits. */
void tr_escape_url(tr_buf *b, const char *s, size_t len, int lower);

/* Appends s with each C0 or DEL byte as '?', as the status block shows vendor text. */
void tr_escape_status(tr_buf *b, const char *s, size_t len);

#endif
