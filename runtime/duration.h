/* Durations: seconds as a number, or strings like "250ms", "30s", "5m", "1h30m". */
#ifndef TR_DURATION_H
#define TR_DURATION_H
#include <lua.h>

/* Parses s into seconds. Returns 0, or -1 when s is not a duration. */
int tr_duration_parse(const char *s, double *seconds);
/* [-0, +0, v] The duration at idx in seconds; raises kind "usage" naming `what` otherwise. */
double tr_check_duration(lua_State *L, int idx, const char *what);

#endif
