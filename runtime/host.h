/* The Lua state: standard libraries, the taskrun modules, the coroutine wrappers, `arg`. */
#ifndef TR_HOST_H
#define TR_HOST_H
#include <lua.h>
#include <stddef.h>

/* A ready state, or NULL (out of memory). `script` is arg[0]; args are arg[1..n]. */
lua_State *tr_host_new(const char *argv0, const char *script, char **args, int nargs);

/* The most bytes the Lua state may hold from now on (0: no limit). Past it an allocation fails
 * as out of memory: Lua collects garbage first and raises "not enough memory" only when that
 * does not help. TASKRUN_MEMORY_LIMIT sets it for the run (run.c). */
void tr_host_memory_limit(size_t bytes);
/* Parses a size: "65536", "64K", "512M", "2G" (powers of 1024; a trailing B is allowed).
 * Returns 0, or -1 when it is not one. */
int tr_host_parse_size(const char *text, size_t *bytes);

#endif
