/* Escaped, capped quotes of user or vendor text for error messages. */
#include "excerpt.h"

#include <lauxlib.h>
#include <stdio.h>

#include "stackcheck.h"

void tr_push_excerpt(lua_State *L, const char *s, size_t len) {
  TR_STACK_BEGIN(L);
  size_t n = len > TR_EXCERPT_MAX ? TR_EXCERPT_MAX : len;
  /* At most 4 output bytes per input byte, the quotes and the length note. */
  char out[TR_EXCERPT_MAX * 4 + 64];
  size_t o = 0;
  out[o++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out[o++] = '\\';
      out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
    } else if (c < 0x20 || c > 0x7e) {
      o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  if (n < len) o += (size_t)snprintf(out + o, sizeof out - o, "...\" (%zu bytes)", len);
  else out[o++] = '"';
  lua_pushlstring(L, out, o);
  TR_STACK_END(L, 0, 1);
}
