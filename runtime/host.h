/* The Lua state: standard libraries, the taskrun modules, the coroutine wrappers, `arg`. */
#ifndef TR_HOST_H
#define TR_HOST_H
#include <lua.h>

/* A ready state, or NULL (out of memory). `script` is arg[0]; args are arg[1..n]. */
lua_State *tr_host_new(const char *argv0, const char *script, char **args, int nargs);

#endif
