/* os.execute and io.popen that do not block the loop (taskrun._proc, stdlib/taskrun/proc.lua). */
#ifndef TR_PROC_H
#define TR_PROC_H
#include <lua.h>

/* [-0, +0, e] Puts the loop-friendly os.execute, io.popen and io.type in place of Lua's. Needs
 * the embedded stdlib's searcher. */
void tr_proc_install(lua_State *L);

#endif
