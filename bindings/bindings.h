/* The C modules exposed to Lua (each preloaded by runtime/host.c). */
#ifndef TR_BINDINGS_H
#define TR_BINDINGS_H
#include <lua.h>
#include <stddef.h>

int luaopen_taskrun_core(lua_State *L);   /* taskrun._core: sleep, spawn, now, log, ... */
int luaopen_taskrun_http(lua_State *L);   /* taskrun._http: request */
int luaopen_taskrun_json(lua_State *L);   /* taskrun.json */
/* What receives a text that json.c encoded: the text (NUL-terminated) is valid during the call.
 * Returns how many values it pushed. */
typedef int (*tr_json_text_fn)(lua_State *L, void *ud, const char *text, size_t len);
/* [-0, +k, e] The values at stack positions first..top as the results of the step named `step`,
 * {"n": count, "v": [values, null for nil]}, given to done; the k values done pushes stay
 * (json.c). Returns k. A value JSON cannot hold is a `usage` error that names the step. */
int tr_json_encode_results(lua_State *L, int first, const char *step, tr_json_text_fn done,
                           void *ud);
int luaopen_taskrun_provider(lua_State *L); /* taskrun._provider: the vendor descriptors */
int luaopen_taskrun_journal(lua_State *L); /* taskrun._journal: the run's steps */

#endif
