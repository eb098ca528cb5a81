/* Stack discipline, checked. A C function whose comment documents a stack effect `[-o, +p]`
 * opens with TR_STACK_BEGIN(L) and, on each path that returns normally, ends with
 * TR_STACK_END(L, o, p): in a build with -DTR_CHECK_STACK (the sanitizer build) a wrong effect
 * aborts with the function's name and both numbers; elsewhere the macros cost nothing.
 *
 * A lua_CFunction's effect is on its own frame: [-n, +r] there means it takes n arguments and
 * returns r results, checked the same way just before its return. */
#ifndef TR_STACKCHECK_H
#define TR_STACKCHECK_H
#include <lua.h>

#ifdef TR_CHECK_STACK
#include <stdio.h>
#include <stdlib.h>

static inline void tr_stack_check(lua_State *L, int base, int pop, int push, const char *fn,
                                  const char *file, int line) {
  int got = lua_gettop(L) - base;
  if (got != push - pop) {
    fprintf(stderr, "%s:%d: %s: stack effect [-%d, +%d] documented, but the stack moved by %d\n",
            file, line, fn, pop, push, got);
    abort();
  }
}
#define TR_STACK_BEGIN(L) const int tr_stack_base_ = lua_gettop(L)
#define TR_STACK_END(L, pop, push) \
  tr_stack_check((L), tr_stack_base_, (pop), (push), __func__, __FILE__, __LINE__)
#else
#define TR_STACK_BEGIN(L) ((void)0)
#define TR_STACK_END(L, pop, push) ((void)0)
#endif

#endif
