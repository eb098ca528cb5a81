/* Percent-encoding of URL pieces (path variables, query keys and values). */
#ifndef TR_URLESCAPE_H
#define TR_URLESCAPE_H
#include <lua.h>
#include <stddef.h>

/* [-0, +1, m] Pushes s percent-encoded as curl_easy_escape does: RFC 3986 unreserved bytes
 * (letters, digits, - . _ ~) kept, every other byte as %XX with upper-case hex; a space is %20,
 * never '+'. libcurl 7.88 appends its output byte by byte into a growing buffer (~60
 * instructions a byte); this writes into a buffer of the final size. */
void tr_push_url_escaped(lua_State *L, const char *s, size_t len);

#endif
