/* Duration parsing, shared by the CLI (--timeout) and every Lua call that takes a duration. */
#include "duration.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* A week of seconds times a thousand: past this a value is a typo, not a plan. */
#define TR_DURATION_MAX (86400.0 * 7 * 1000)

static double unit_seconds(const char **p) {
  const char *s = *p;
  if (s[0] == 'm' && s[1] == 's') { *p = s + 2; return 0.001; }
  if (s[0] == 'h') { *p = s + 1; return 3600; }
  if (s[0] == 'm') { *p = s + 1; return 60; }
  if (s[0] == 's') { *p = s + 1; return 1; }
  return -1;
}

int tr_duration_parse(const char *s, double *seconds) {
  double total = 0;
  int parts = 0;
  char *end;
  if (!s || !*s) return -1;
  /* A bare number is seconds. */
  double plain = strtod(s, &end);
  if (*end == '\0' && isdigit((unsigned char)s[0])) {
    if (!isfinite(plain) || plain > TR_DURATION_MAX) return -1;
    *seconds = plain;
    return 0;
  }
  while (*s) {
    if (!isdigit((unsigned char)*s)) return -1;
    double n = strtod(s, &end);
    s = end;
    double unit = unit_seconds(&s);
    if (unit < 0) return -1;
    total += n * unit;
    parts++;
  }
  if (!parts || !isfinite(total) || total > TR_DURATION_MAX) return -1;
  *seconds = total;
  return 0;
}

double tr_check_duration(lua_State *L, int idx, const char *what) {
  double seconds = -1;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    seconds = lua_tonumber(L, idx);
    if (isfinite(seconds) && seconds >= 0 && seconds <= TR_DURATION_MAX) return seconds;
  } else if (lua_type(L, idx) == LUA_TSTRING) {
    if (tr_duration_parse(lua_tostring(L, idx), &seconds) == 0) return seconds;
  }
  lua_getglobal(L, "tostring");
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  tr_raise(L, "usage", "bad duration %s%s%s for %s: give seconds (e.g. 1.5) or a string like "
           "\"250ms\", \"30s\", \"5m\", \"1h30m\"",
           lua_type(L, idx) == LUA_TSTRING ? "\"" : "", lua_tostring(L, -1),
           lua_type(L, idx) == LUA_TSTRING ? "\"" : "", what);
  return 0;
}
