/* Expected failures are tables { kind, message, ... } with a __tostring that reads well in a
 * cron mail. Kinds: transport, http, auth, not_found, decode, failed, cancelled, timeout,
 * usage. */
#ifndef TR_ERRORS_H
#define TR_ERRORS_H
#include <lua.h>

#define TR_ERROR_MT "taskrun.error"

/* [-0, +0, m] Creates the metatable of error tables. */
void tr_errors_init(lua_State *L);
/* [-0, +1, m] Pushes a new error table of that kind with a formatted message. */
void tr_push_error(lua_State *L, const char *kind, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* [-0, +0, v] Raises one; never returns. */
int tr_raise(lua_State *L, const char *kind, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* [-0, +1, m] Pushes the readable text of any error value and returns it: its __tostring when
 * it has one, called under protection (an __tostring that raises, or returns no string, gives a
 * fixed text), "kind: message" for a table with a string message. Raises only out of memory. */
const char *tr_error_text(lua_State *L, int idx);
/* [-0, +0] The exit code an uncaught error value maps to (see README: exit codes), from its
 * `kind` read raw: no metamethod runs. */
int tr_error_exit_code(lua_State *L, int idx);
/* [-0, +1] Lua: taskrun.error(kind, message [, fields]) -> error table (not raised); the result
 * is pushed above the arguments. */
int tr_error_new_lua(lua_State *L);

/* [-0, +0] Whether the error value at idx is an expected failure: a table whose `kind`, read
 * raw, is one of the kinds taskrun raises (transport, http, auth, not_found, decode, failed,
 * cancelled, timeout, usage, in_doubt). Its report needs no traceback: its message says it. */
int tr_error_expected(lua_State *L, int idx);

/* [-0, +0] Where the runbook was when `co` raised: "file:line" of the innermost frame of co's
 * stack that runs the runbook's code (not a C function, not taskrun's embedded stdlib), written
 * to buf. Returns 0, or -1 when no frame is the runbook's (a tail call replaced it). co may be
 * a coroutine that died of the error: its stack is still there. */
int tr_error_where(lua_State *co, char *buf, size_t n);

#endif
