/* taskrun.json: a decoder and an encoder of our own, building and reading Lua values directly.
 *
 * Decoding was lua-cjson's, with a second pass making integral numbers Lua integers. cjson reads
 * every number through a double, so an id above 2^53 came back rounded (9007199254740993 as
 * ...992), and it took 1e400 as inf. Exactness needs the digits, which only a parser has: a
 * scan for long digit runs plus an exact re-parse would still be a second parser, used only on
 * rare bodies and so barely tested. One small decoder is simpler, is what the fuzzer exercises,
 * and is no slower (bench/json.lua: it also drops the integer pass over every table).
 *
 * Decoding rules: integers (no fraction, no exponent) become Lua integers, exactly, or kind
 * "decode" when they do not fit 64 bits; other numbers are doubles, made integers when integral
 * and in range (as before: "2.0" and "1e3" are 2 and 1000); a number a double cannot hold
 * (1e400) is "decode"; -0 and -0.0 decode as the integer 0; a repeated key keeps its last value;
 * nesting deeper than MAX_DEPTH is "decode"; strings are taken byte for byte, invalid UTF-8
 * included (as cjson did), while \u escapes must be valid (a lone surrogate is "decode"). null
 * is json.null, the NULL light userdata cjson uses too.
 *
 * Encoding is here because cjson 2.1.0 formats every number through a double with 14 digits and
 * cannot write an empty array. */
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "errors.h"
#include "excerpt.h"
#include "stackcheck.h"

#define ARRAY_MT "taskrun.json.array"
#define MAX_DEPTH 1000

/* ---- decode ---- */

typedef struct {
  lua_State *L;
  const char *start, *p, *end;
} reader;

/* [-0, +0, v] Raises kind "decode" with the 1-based position of r->p and what was found. */
static void decode_fail(reader *r, const char *what) {
  lua_State *L = r->L;
  lua_Integer pos = (lua_Integer)(r->p - r->start) + 1;
  /* lua_pushfstring has no 64-bit format that the compiler's printf check accepts. */
  lua_pushinteger(L, pos);
  const char *at = lua_tostring(L, -1);
  if (strncmp(what, "expected", 8) != 0) {   /* says itself what is wrong */
    tr_push_error(L, "decode", "cannot decode JSON: %s at character %s", what, at);
  } else if (r->p >= r->end) {
    tr_push_error(L, "decode", "invalid JSON (%s): %s at the end (character %s)",
                  r->end == r->start ? "empty body" : "malformed", what, at);
  } else {
    unsigned char c = (unsigned char)*r->p;
    char found[16];
    if (c > 0x20 && c < 0x7f) snprintf(found, sizeof found, "'%c'", c);
    else snprintf(found, sizeof found, "byte 0x%02x", c);
    tr_push_error(L, "decode", "invalid JSON (malformed): %s but found %s at character %s",
                  what, found, at);
  }
  lua_pushinteger(L, pos);
  lua_setfield(L, -2, "position");
  lua_error(L);
}

static void skip_space(reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
    r->p++;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* [-0, +0, v] Raises kind "decode" for the number text [s, e), quoted (capped). */
static void number_fail(reader *r, const char *s, const char *e, const char *why) {
  tr_push_excerpt(r->L, s, (size_t)(e - s));
  lua_pushfstring(r->L, "the number %s %s", lua_tostring(r->L, -1), why);
  r->p = s;
  decode_fail(r, lua_tostring(r->L, -1));
}

/* [-0, +1, v] A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static void decode_number(reader *r) {
  TR_STACK_BEGIN(r->L);
  const char *s = r->p;
  const char *q = s;
  int neg = 0, integral = 1;
  if (q < r->end && *q == '-') { neg = 1; q++; }
  if (q >= r->end || !is_digit(*q)) { r->p = q; decode_fail(r, "expected a digit"); }
  if (*q == '0') q++;
  else while (q < r->end && is_digit(*q)) q++;
  const char *digits_end = q;
  if (q < r->end && *q == '.') {
    integral = 0;
    q++;
    if (q >= r->end || !is_digit(*q)) { r->p = q; decode_fail(r, "expected a digit after '.'"); }
    while (q < r->end && is_digit(*q)) q++;
  }
  if (q < r->end && (*q == 'e' || *q == 'E')) {
    integral = 0;
    q++;
    if (q < r->end && (*q == '+' || *q == '-')) q++;
    if (q >= r->end || !is_digit(*q)) { r->p = q; decode_fail(r, "expected an exponent"); }
    while (q < r->end && is_digit(*q)) q++;
  }
  if (integral) {
    /* Exact: accumulate as unsigned, so that -9223372036854775808 fits too. */
    unsigned long long limit = neg ? (unsigned long long)LUA_MAXINTEGER + 1 : LUA_MAXINTEGER;
    unsigned long long v = 0;
    for (const char *d = s + neg; d < digits_end; d++) {
      unsigned digit = (unsigned)(*d - '0');
      if (v > (limit - digit) / 10) number_fail(r, s, q, "does not fit a 64-bit integer "
                                                "(taskrun never rounds one)");
      v = v * 10 + digit;
    }
    lua_pushinteger(r->L, neg ? (lua_Integer)(0 - v) : (lua_Integer)v);
  } else {
    char buf[64];
    char *tmp = NULL;
    size_t len = (size_t)(q - s);
    const char *text = buf;
    if (len < sizeof buf) {
      memcpy(buf, s, len);
      buf[len] = '\0';
    } else {
      /* A long number (many digits): a Lua string is a NUL-terminated copy that cannot leak. */
      lua_pushlstring(r->L, s, len);
      text = lua_tostring(r->L, -1);
    }
    errno = 0;
    double d = strtod(text, &tmp);
    if (text != buf) lua_pop(r->L, 1);
    if (!isfinite(d) || (errno == ERANGE && fabs(d) > 1))
      number_fail(r, s, q, "is too large for a double");
    /* Integral values become integers, as the README promises ("x/" .. 2.0 reads "x/2"). */
    if (d == floor(d) && d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)
      lua_pushinteger(r->L, (lua_Integer)d);
    else
      lua_pushnumber(r->L, d);
  }
  r->p = q;
  TR_STACK_END(r->L, 0, 1);
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* [-0, +1, v] A string; r->p is on the opening quote. Raw bytes are taken as they are (cjson
 * did the same: a vendor's control character or invalid UTF-8 stays the vendor's). */
static void decode_string(reader *r) {
  TR_STACK_BEGIN(r->L);
  const char *s = ++r->p;
  const char *q = s;
  while (q < r->end && *q != '"' && *q != '\\') q++;
  if (q < r->end && *q == '"') {   /* no escape: the common case, one copy */
    lua_pushlstring(r->L, s, (size_t)(q - s));
    r->p = q + 1;
    TR_STACK_END(r->L, 0, 1);
    return;
  }
  /* With escapes the text only shrinks, so the raw string bounds its size: find its end. */
  const char *e = q;
  while (e < r->end && *e != '"') e += *e == '\\' ? 2 : 1;
  luaL_Buffer b;
  char *out = luaL_buffinitsize(r->L, &b, (size_t)((e < r->end ? e : r->end) - s));
  size_t n = (size_t)(q - s);
  memcpy(out, s, n);
  while (1) {
    if (q >= r->end) { r->p = q; decode_fail(r, "expected the end of a string"); }
    char c = *q;
    if (c == '"') break;
    if (c != '\\') { out[n++] = c; q++; continue; }
    r->p = q;
    if (q + 1 >= r->end) { r->p = q + 1; decode_fail(r, "expected an escape"); }
    q += 2;
    switch (q[-1]) {
      case '"': out[n++] = '"'; break;
      case '\\': out[n++] = '\\'; break;
      case '/': out[n++] = '/'; break;
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'n': out[n++] = '\n'; break;
      case 'r': out[n++] = '\r'; break;
      case 't': out[n++] = '\t'; break;
      case 'u': {
        unsigned cp = 0, lo = 0;
        if (r->end - q < 4 || hex4(q, &cp) != 0) decode_fail(r, "expected \\u and 4 hex digits");
        q += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff) decode_fail(r, "a \\u escape of a lone low surrogate");
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (r->end - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) != 0 ||
              lo < 0xdc00 || lo > 0xdfff)
            decode_fail(r, "a \\u escape of a high surrogate without its low half");
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          q += 6;
        }
        /* \uXXXX is 6 bytes of input for at most 3 of output; a pair 12 for 4. */
        n += put_utf8(out + n, cp);
        break;
      }
      default:
        r->p = q - 1;
        decode_fail(r, "expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
    }
  }
  luaL_pushresultsize(&b, n);
  r->p = q + 1;
  TR_STACK_END(r->L, 0, 1);
}

static void decode_value(reader *r, int depth);

static void expect_word(reader *r, const char *word, size_t len) {
  if ((size_t)(r->end - r->p) < len || memcmp(r->p, word, len) != 0)
    decode_fail(r, "expected a value");
  r->p += len;
}

/* Values decoded into a container wait on the stack, up to HELD of them, before the table is
 * made: a table made with its final size is filled without a rehash, where one grown key by
 * key is rehashed at 1, 2, 4, 8, ... keys (half the decode's cost on a vendor's task object).
 * A bigger container gets a table of HELD, filled and grown as usual from then on. */
#define HELD 32

/* [-0, +0, m] Moves the `n` values (pairs when `pairs`) above `slot` into the table at `slot`,
 * making it first when `slot` still holds the nil placeholder (sized for those n), in their
 * order, so a repeated key keeps its last value. */
static void flush_held(lua_State *L, int slot, int n, int pairs, lua_Integer *next_index) {
  TR_STACK_BEGIN(L);
  if (lua_isnil(L, slot)) {
    lua_createtable(L, pairs ? 0 : n, pairs ? n : 0);
    lua_replace(L, slot);
  }
  for (int i = 0; i < n; i++) {
    if (pairs) {
      lua_pushvalue(L, slot + 1 + 2 * i);
      lua_pushvalue(L, slot + 2 + 2 * i);
      lua_rawset(L, slot);
    } else {
      lua_pushvalue(L, slot + 1 + i);
      lua_rawseti(L, slot, (*next_index)++);
    }
  }
  lua_settop(L, slot);
  TR_STACK_END(L, pairs ? 2 * n : n, 0);
}

/* [-0, +1, v] An array; r->p is on '['. */
static void decode_array(reader *r, int depth) {
  TR_STACK_BEGIN(r->L);
  lua_State *L = r->L;
  r->p++;
  skip_space(r);
  if (r->p < r->end && *r->p == ']') {
    r->p++;
    lua_createtable(L, 0, 0);
    TR_STACK_END(L, 0, 1);
    return;
  }
  lua_pushnil(L);   /* the table's place, until it is made */
  int slot = lua_gettop(L), held = 0;
  lua_Integer next_index = 1;
  while (1) {
    /* Room as it is needed, not HELD's worth up front: 10,000 coroutines decoding at once
     * each keep the stack they grew to. */
    luaL_checkstack(L, 3, "json.decode");   /* the value, and flush_held's copy */
    decode_value(r, depth + 1);
    if (++held == HELD) {
      flush_held(L, slot, held, 0, &next_index);
      held = 0;
    }
    skip_space(r);
    if (r->p < r->end && *r->p == ',') { r->p++; continue; }
    if (r->p < r->end && *r->p == ']') { r->p++; break; }
    decode_fail(r, "expected ',' or ']'");
  }
  flush_held(L, slot, held, 0, &next_index);
  TR_STACK_END(L, 0, 1);
}

/* [-0, +1, v] An object; r->p is on '{'. A repeated key keeps its last value. */
static void decode_object(reader *r, int depth) {
  TR_STACK_BEGIN(r->L);
  lua_State *L = r->L;
  r->p++;
  skip_space(r);
  if (r->p < r->end && *r->p == '}') {
    r->p++;
    lua_createtable(L, 0, 0);
    TR_STACK_END(L, 0, 1);
    return;
  }
  lua_pushnil(L);   /* the table's place, until it is made */
  int slot = lua_gettop(L), held = 0;
  while (1) {
    skip_space(r);
    if (r->p >= r->end || *r->p != '"') decode_fail(r, "expected a key (a string)");
    luaL_checkstack(L, 4, "json.decode");   /* the pair, and flush_held's copies */
    decode_string(r);
    skip_space(r);
    if (r->p >= r->end || *r->p != ':') decode_fail(r, "expected ':'");
    r->p++;
    decode_value(r, depth + 1);
    if (++held == HELD) {
      flush_held(L, slot, held, 1, NULL);
      held = 0;
    }
    skip_space(r);
    if (r->p < r->end && *r->p == ',') { r->p++; continue; }
    if (r->p < r->end && *r->p == '}') { r->p++; break; }
    decode_fail(r, "expected ',' or '}'");
  }
  flush_held(L, slot, held, 1, NULL);
  TR_STACK_END(L, 0, 1);
}

/* [-0, +1, v] Any value, after optional white space. */
static void decode_value(reader *r, int depth) {
  TR_STACK_BEGIN(r->L);
  skip_space(r);
  if (r->p >= r->end) decode_fail(r, "expected a value");
  char c = *r->p;
  if (c == '{' || c == '[') {
    if (depth >= MAX_DEPTH) decode_fail(r, "nested deeper than 1000 levels");
    luaL_checkstack(r->L, 4, "json.decode");
    if (c == '{') decode_object(r, depth);
    else decode_array(r, depth);
  } else if (c == '"') {
    decode_string(r);
  } else if (c == '-' || is_digit(c)) {
    decode_number(r);
  } else if (c == 't') {
    expect_word(r, "true", 4);
    lua_pushboolean(r->L, 1);
  } else if (c == 'f') {
    expect_word(r, "false", 5);
    lua_pushboolean(r->L, 0);
  } else if (c == 'n') {
    expect_word(r, "null", 4);
    lua_pushlightuserdata(r->L, NULL);
  } else {
    decode_fail(r, "expected a value");
  }
  TR_STACK_END(r->L, 0, 1);
}

/* json.decode(s): [-1, +1, e] the value; raises kind "decode" with `position` (1-based). */
static int l_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  TR_STACK_BEGIN(L);
  reader r = { L, s, s, s + len };
  decode_value(&r, 0);
  skip_space(&r);
  if (r.p < r.end) decode_fail(&r, "expected the end of the text");
  lua_remove(L, 1);
  TR_STACK_END(L, 1, 1);
  return 1;
}

/* ---- encode ---- */

/* The text being written: in `small` while it fits (most texts: a step's results, a request
 * body), then in a Lua userdata that is replaced by a larger one as it grows. Its box sits at a
 * fixed stack slot, so an error raised half way (a NaN, a function value) leaves nothing to
 * free, and no encode pays for a finalizer. */
typedef struct {
  lua_State *L;
  char *p;
  size_t n, cap;
  int box;                  /* the stack slot holding the userdata, once there is one */
  const void *array_mt;     /* json.array's metatable, looked up once per encode */
  const char *step;         /* the step whose results these are, or NULL */
  char small[512];
} out_buf;

static void grow(out_buf *b, size_t need) {
  size_t cap = b->cap * 2 > b->n + need ? b->cap * 2 : b->n + need + 256;
  char *p = lua_newuserdatauv(b->L, cap, 0);
  memcpy(p, b->p, b->n);
  lua_replace(b->L, b->box);
  b->p = p;
  b->cap = cap;
}

static inline void add_len(out_buf *b, const char *s, size_t len) {
  if (b->cap - b->n < len) grow(b, len);
  memcpy(b->p + b->n, s, len);
  b->n += len;
}

static void add_str(out_buf *b, const char *s) { add_len(b, s, strlen(s)); }

static inline void add_char(out_buf *b, char c) {
  if (b->n == b->cap) grow(b, 1);
  b->p[b->n++] = c;
}

static void encode_value(lua_State *L, out_buf *b, int idx, int depth);

/* [-0, +0, v] Raises kind "usage": the value cannot be written in JSON. For a step's results
 * (b->step), the message says which step returned it, and what to return instead. */
static void encode_fail(lua_State *L, const out_buf *b, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static void encode_fail(lua_State *L, const out_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *why = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  if (b->step)
    tr_raise(L, "usage", "taskrun.step: step \"%s\" returned a value that is not "
             "JSON-encodable (%s): return strings, numbers, booleans, nil and tables of them",
             b->step, why);
  tr_raise(L, "usage", "%s", why);
}

/* Whether a byte must be escaped in a JSON string: controls, '"' and '\\'. */
static inline int needs_escape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}

/* The rest of a string from its first byte that needs an escape, and its closing quote. */
static void encode_escaped(out_buf *b, const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    size_t run = i;
    while (run < len && !needs_escape((unsigned char)s[run])) run++;
    add_len(b, s + i, run - i);   /* the bytes that go out as they are, in one copy */
    if (run == len) break;
    unsigned char c = (unsigned char)s[run];
    switch (c) {
      case '"': add_len(b, "\\\"", 2); break;
      case '\\': add_len(b, "\\\\", 2); break;
      case '\n': add_len(b, "\\n", 2); break;
      case '\r': add_len(b, "\\r", 2); break;
      case '\t': add_len(b, "\\t", 2); break;
      case '\b': add_len(b, "\\b", 2); break;
      case '\f': add_len(b, "\\f", 2); break;
      default: {
        char esc[8];
        snprintf(esc, sizeof esc, "\\u%04x", c);
        add_len(b, esc, 6);
      }
    }
    i = run + 1;
  }
  add_char(b, '"');
}

static void encode_string(out_buf *b, const char *s, size_t len) {
  /* Most strings need no escape: scanned, then copied in one go, into room made once. */
  if (b->cap - b->n < len + 2) grow(b, len + 2);
  char *o = b->p + b->n;
  *o++ = '"';
  size_t i = 0;
  while (i < len && !needs_escape((unsigned char)s[i])) i++;
  memcpy(o, s, i);
  if (i == len) {
    o[i] = '"';
    b->n += len + 2;
    return;
  }
  b->n += i + 1;
  encode_escaped(b, s + i, len - i);
}

static void encode_integer(out_buf *b, lua_Integer v) {
  char digits[24];
  size_t i = sizeof digits;
  /* In unsigned arithmetic, so that the most negative integer negates without overflow. */
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    digits[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) digits[--i] = '-';
  add_len(b, digits + i, sizeof digits - i);
}

static void encode_number(lua_State *L, out_buf *b, int idx) {
  if (lua_isinteger(L, idx)) {
    encode_integer(b, lua_tointeger(L, idx));
    return;
  }
  char num[64];
  double v = lua_tonumber(L, idx);
  if (!isfinite(v)) encode_fail(L, b, "json.encode: cannot encode %f (not a JSON number)", v);
  snprintf(num, sizeof num, "%.17g", v);
  add_str(b, num);
}

/* Counts keys; returns n when the keys are exactly 1..n, else -1. */
static lua_Integer array_length(lua_State *L, int idx) {
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) { lua_pop(L, 1); return -1; }
    if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    count++;
  }
  return count == max ? count : -1;
}

static int is_marked_array(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, ARRAY_MT);
  int marked = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return marked;
}

static void encode_array(lua_State *L, out_buf *b, int idx, lua_Integer n, int depth) {
  add_char(b, '[');
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) add_char(b, ',');
    lua_rawgeti(L, idx, i);
    encode_value(L, b, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  add_char(b, ']');
}

typedef struct {
  const char *s;
  size_t len;
  int value;     /* the stack slot of the key's value, or 0: look it up in the table */
} key_text;

/* Byte order, with lengths: keys may hold NUL ("a" and "a\0b" are two keys). */
static int compare_keys(const void *a, const void *b) {
  const key_text *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* [-0, +0, v] Raises kind "usage" for a table that is neither an array nor an object, saying
 * which it looks like and what to do. */
static void refuse_keys(lua_State *L, const out_buf *b, int idx) {
  int strings = 0, positive = 0, other = 0;
  const char *other_type = NULL;
  lua_Integer max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      strings++;
    } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
      positive++;
      if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    } else {
      other++;
      other_type = lua_isinteger(L, -1) ? "integer below 1" : luaL_typename(L, -1);
    }
  }
  if (other)
    encode_fail(L, b, "json.encode: a table has a key of type %s; JSON objects take string "
             "keys, and arrays integer keys 1..n", other_type);
  if (strings)
    encode_fail(L, b, "json.encode: a table mixes string keys with integer keys; JSON "
             "objects take string keys only: keep the list under a key of its own, or make the "
             "integer keys strings with tostring");
  lua_pushinteger(L, max);
  encode_fail(L, b, "json.encode: a sparse array: %d integer keys up to %s, with holes; fill "
           "the holes with json.null (a table built with json.array writes 1..#t)",
           positive, lua_tostring(L, -1));
}

/* Objects this small list and sort their keys in a C array. */
#define SMALL_OBJECT 16

/* Writes the object at idx from its n keys, sorted: the same table always gives the same text. */
static void write_object(lua_State *L, out_buf *b, int idx, key_text *keys, size_t n,
                         int depth) {
  if (n > SMALL_OBJECT) {
    qsort(keys, n, sizeof *keys, compare_keys);
  } else {
    /* A few keys: an insertion sort, without qsort's calls through a pointer. */
    for (size_t i = 1; i < n; i++) {
      key_text k = keys[i];
      size_t at = i;
      for (; at > 0 && compare_keys(&keys[at - 1], &k) > 0; at--) keys[at] = keys[at - 1];
      keys[at] = k;
    }
  }
  add_char(b, '{');
  for (size_t i = 0; i < n; i++) {
    if (i > 0) add_char(b, ',');
    encode_string(b, keys[i].s, keys[i].len);
    add_char(b, ':');
    if (keys[i].value) {
      encode_value(L, b, keys[i].value, depth + 1);
      continue;
    }
    lua_pushlstring(L, keys[i].s, keys[i].len);
    lua_rawget(L, idx);
    encode_value(L, b, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  add_char(b, '}');
}

/* Lists the keys of the table at idx into keys[0..max) while they are strings (the table keeps
 * them alive). Returns how many: -1 at a key that is not a string, max + 1 when there are more
 * than max. */
static long list_keys(lua_State *L, int idx, key_text *keys, size_t max) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING || n == max) {
      int more = lua_type(L, -1) == LUA_TSTRING;
      lua_pop(L, 1);
      return more ? (long)max + 1 : -1;
    }
    keys[n].s = lua_tolstring(L, -1, &keys[n].len);
    keys[n].value = 0;
    n++;
  }
  return (long)n;
}

/* list_keys for a small object (max keys at most), leaving each key and its value on the
 * stack, so that write_object finds the values where they are (keys[i].value) instead of
 * looking each up again: the caller sets the top back. */
static long list_pairs(lua_State *L, int idx, key_text *keys, size_t max) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) return -1;
    if (n == max) return (long)max + 1;
    keys[n].s = lua_tolstring(L, -2, &keys[n].len);
    keys[n].value = lua_gettop(L);
    n++;
    lua_pushvalue(L, -2);   /* the key again, for the next lua_next */
  }
  return (long)n;
}

/* [-0, +(0|1), e] A table whose metatable has __pairs is written as pairs() reads it (a Task
 * lists its raw, which it decodes when first read): its pairs are copied into a plain table,
 * which is pushed, and 1 returned; 0, and nothing pushed, for a table without __pairs. */
static int push_pairs_copy(lua_State *L, int idx) {
  if (luaL_getmetafield(L, idx, "__pairs") == LUA_TNIL) return 0;
  lua_pushvalue(L, idx);
  lua_call(L, 1, 3);            /* the iterator, its state and its first control value */
  int iter = lua_gettop(L) - 2;
  lua_newtable(L);              /* the copy, at iter + 3 */
  for (;;) {
    lua_pushvalue(L, iter);
    lua_pushvalue(L, iter + 1);
    lua_pushvalue(L, iter + 2);
    lua_call(L, 2, 2);          /* key, value */
    if (lua_isnil(L, -2)) {
      lua_pop(L, 2);
      break;
    }
    lua_pushvalue(L, -2);
    lua_replace(L, iter + 2);   /* the next call's control value: this key */
    lua_rawset(L, iter + 3);
  }
  lua_replace(L, iter);
  lua_pop(L, 2);
  return 1;
}

/* A table is an array when its keys are exactly 1..n (n > 0) or json.array marks it, else an
 * object (the empty table too), whose keys must all be strings. A small object's keys are
 * listed by the same pass that tells it from an array. */
static void encode_table(lua_State *L, out_buf *b, int idx, int depth) {
  if (depth > MAX_DEPTH) encode_fail(L, b, "json.encode: nested too deep (a cycle?)");
  luaL_checkstack(L, 2 * SMALL_OBJECT + 8, "json.encode");
  if (lua_getmetatable(L, idx)) {
    int marked = lua_topointer(L, -1) == b->array_mt;
    lua_pop(L, 1);
    if (marked) {
      encode_array(L, b, idx, (lua_Integer)lua_rawlen(L, idx), depth);
      return;
    }
    if (push_pairs_copy(L, idx)) {
      encode_table(L, b, lua_gettop(L), depth);   /* the copy has no metatable */
      lua_pop(L, 1);
      return;
    }
  }
  key_text small[SMALL_OBJECT];
  int top = lua_gettop(L);
  long n = list_pairs(L, idx, small, SMALL_OBJECT);
  if (n >= 0 && n <= SMALL_OBJECT) {
    write_object(L, b, idx, small, (size_t)n, depth);
    lua_settop(L, top);
    return;
  }
  lua_settop(L, top);
  if (n < 0) {
    lua_Integer len = array_length(L, idx);
    if (len <= 0) refuse_keys(L, b, idx);
    encode_array(L, b, idx, len, depth);
    return;
  }
  /* A large object: counted, then listed in a userdata (freed by the GC, so that a nested error
   * cannot leak it). */
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    count++;
  }
  key_text *keys = lua_newuserdatauv(L, count * sizeof *keys, 0);
  n = list_keys(L, idx, keys, count);
  if (n < 0) refuse_keys(L, b, idx);
  write_object(L, b, idx, keys, (size_t)n, depth);
  lua_pop(L, 1);
}

static void encode_value(lua_State *L, out_buf *b, int idx, int depth) {
  size_t len;
  const char *s;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: add_len(b, "null", 4); break;
    case LUA_TBOOLEAN: add_str(b, lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TNUMBER: encode_number(L, b, idx); break;
    case LUA_TSTRING:
      s = lua_tolstring(L, idx, &len);
      encode_string(b, s, len);
      break;
    case LUA_TTABLE: encode_table(L, b, idx, depth); break;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) { add_len(b, "null", 4); break; }
      /* fall through */
    default:
      encode_fail(L, b, "json.encode: cannot encode a %s", luaL_typename(L, idx));
  }
}

/* [-0, +1] Starts the text in b: its box slot is pushed, holding json.array's metatable (the
 * registry keeps it alive; a box that the text outgrows replaces it). */
static void out_begin(lua_State *L, out_buf *b) {
  b->L = L;
  b->p = b->small;
  b->n = 0;
  b->cap = sizeof b->small;
  luaL_getmetatable(L, ARRAY_MT);
  b->array_mt = lua_topointer(L, -1);
  b->box = lua_gettop(L);
  b->step = NULL;
}

/* [-0, +0] Puts the text in the box's slot. */
static void out_end(lua_State *L, out_buf *b) {
  lua_pushlstring(L, b->p, b->n);
  lua_replace(L, b->box);
}

/* json.encode(v): [-1, +1, e] compact JSON text. */
static int l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  TR_STACK_BEGIN(L);
  out_buf b;
  out_begin(L, &b);
  encode_value(L, &b, 1, 0);
  out_end(L, &b);
  lua_replace(L, 1);   /* the text takes the argument's place */
  TR_STACK_END(L, 1, 1);
  return 1;
}

/* [-0, +k, e] A step's results, the values at first..top, as {"n":count,"v":[values, null for
 * nil]}, handed to done (bindings.h) without becoming a Lua string: the k values done pushes (k:
 * what it returns) stay on the stack. A value JSON cannot hold raises kind "usage" naming the
 * step. */
int tr_json_encode_results(lua_State *L, int first, const char *step, tr_json_text_fn done,
                           void *ud) {
  int top = lua_gettop(L);
  out_buf b;
  out_begin(L, &b);
  b.step = step;
  add_len(&b, "{\"n\":", 5);
  encode_integer(&b, top - first + 1);
  add_len(&b, ",\"v\":[", 6);
  for (int i = first; i <= top; i++) {
    if (i > first) add_char(&b, ',');
    encode_value(L, &b, i, 1);
  }
  add_len(&b, "]}", 3);   /* with the NUL that ends the text */
  int pushed = done(L, ud, b.p, b.n - 1);
  if (pushed) lua_remove(L, b.box);
  else lua_settop(L, b.box - 1);
  return pushed;
}

/* json.array(t): [-1, +1] marks t (default {}) so it encodes as an array, even when empty. */
static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, ARRAY_MT);
  return 1;
}

static int l_is_array(lua_State *L) {
  lua_pushboolean(L, lua_istable(L, 1) && is_marked_array(L, 1));
  return 1;
}

int luaopen_taskrun_json(lua_State *L) {
  luaL_newmetatable(L, ARRAY_MT);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  lua_createtable(L, 0, 6);
  lua_pushcfunction(L, l_decode);
  lua_setfield(L, -2, "decode");
  lua_pushlightuserdata(L, NULL);   /* json.null: cjson's null, so both compare equal */
  lua_setfield(L, -2, "null");
  lua_pushcfunction(L, l_encode);
  lua_setfield(L, -2, "encode");
  lua_pushcfunction(L, l_array);
  lua_setfield(L, -2, "array");
  lua_pushcfunction(L, l_is_array);
  lua_setfield(L, -2, "is_array");
  return 1;
}
