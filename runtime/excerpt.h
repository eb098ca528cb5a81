/* Quoting user or vendor text inside an error message: escaped, and capped so that a 1 MB id
 * never makes a 3 MB message. */
#ifndef TR_EXCERPT_H
#define TR_EXCERPT_H
#include <lua.h>
#include <stddef.h>

/* How many bytes of the input an excerpt quotes at most. */
#define TR_EXCERPT_MAX 80

/* [-0, +1, m] Pushes s quoted as "..." with control characters, quotes, backslashes and bytes
 * over 0x7e escaped (\n, \", \x01). Past TR_EXCERPT_MAX input bytes it stops with ..." and
 * the full length: "abc..." (1048576 bytes). */
void tr_push_excerpt(lua_State *L, const char *s, size_t len);

#endif
