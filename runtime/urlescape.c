/* See urlescape.h. */
#include "urlescape.h"

#include <lauxlib.h>

static int unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

void tr_push_url_escaped(lua_State *L, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t out = 0;
  for (size_t i = 0; i < len; i++) out += unreserved((unsigned char)s[i]) ? 1 : 3;
  if (out == len) {   /* the common case: an id, a key; nothing to encode */
    lua_pushlstring(L, s, len);
    return;
  }
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, out);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c)) {
      *p++ = (char)c;
    } else {
      *p++ = '%';
      *p++ = hex[c >> 4];
      *p++ = hex[c & 15];
    }
  }
  luaL_pushresultsize(&b, out);
}
