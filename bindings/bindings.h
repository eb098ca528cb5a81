/* The C modules exposed to Lua (each preloaded by runtime/host.c). */
#ifndef TR_BINDINGS_H
#define TR_BINDINGS_H
#include <lua.h>

int luaopen_taskrun_core(lua_State *L);   /* taskrun._core: sleep, spawn, now, log, ... */
int luaopen_taskrun_http(lua_State *L);   /* taskrun._http: request */
int luaopen_taskrun_json(lua_State *L);   /* taskrun.json */
/* A lua_CFunction: the JSON array of its arguments, nil as null (json.c). */
int tr_json_encode_values(lua_State *L);
int luaopen_taskrun_provider(lua_State *L); /* taskrun._provider: the vendor descriptors */
int luaopen_taskrun_journal(lua_State *L); /* taskrun._journal: the run's steps */

#endif
