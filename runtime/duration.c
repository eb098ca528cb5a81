/* Duration parsing, shared by the CLI (--timeout) and every Lua call that takes a duration. */
#include "duration.h"

#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "excerpt.h"
#include "stackcheck.h"

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

/* Reads a plain decimal number (digits, then optionally '.' and digits) at *p. strtod alone
 * would also take "0x10", "1e3", "inf" and "nan", none of which is a duration. */
static int decimal(const char **p, double *value) {
  const char *s = *p;
  if (!isdigit((unsigned char)*s)) return -1;
  while (isdigit((unsigned char)*s)) s++;
  if (*s == '.') {
    s++;
    while (isdigit((unsigned char)*s)) s++;
  }
  char num[64];
  size_t len = (size_t)(s - *p);
  if (len >= sizeof num) return -1;   /* 64 digits of seconds is past any cap anyway */
  memcpy(num, *p, len);
  num[len] = '\0';
  *value = strtod(num, NULL);
  *p = s;
  return 0;
}

int tr_duration_parse(const char *s, double *seconds) {
  double total = 0, n;
  int parts = 0;
  if (!s || !*s) return -1;
  /* A bare number is seconds. */
  const char *p = s;
  if (decimal(&p, &n) == 0 && *p == '\0') {
    if (n > TR_DURATION_MAX) return -1;
    *seconds = n;
    return 0;
  }
  while (*s) {
    if (decimal(&s, &n) != 0) return -1;
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
  TR_STACK_BEGIN(L);
  double seconds = -1;
  size_t len;
  int type = lua_type(L, idx);
  if (type == LUA_TNUMBER) {
    seconds = lua_tonumber(L, idx);
    if (isfinite(seconds) && seconds >= 0 && seconds <= TR_DURATION_MAX) {
      TR_STACK_END(L, 0, 0);
      return seconds;
    }
  } else if (type == LUA_TSTRING) {
    const char *s = lua_tolstring(L, idx, &len);
    /* A string holding NUL is never a duration: the parser would see only its first part. */
    if (strlen(s) == len && tr_duration_parse(s, &seconds) == 0) {
      TR_STACK_END(L, 0, 0);
      return seconds;
    }
  }
  /* Name the value given: a string quoted (capped), a number as written, else its type. */
  if (type == LUA_TSTRING) {
    const char *s = lua_tolstring(L, idx, &len);
    tr_push_excerpt(L, s, len);
  } else if (type == LUA_TNUMBER) {
    lua_pushvalue(L, idx);
    lua_tostring(L, -1);   /* the copy becomes its text: -1, nan, inf */
  } else {
    lua_pushfstring(L, "(a %s)", luaL_typename(L, idx));
  }
  tr_raise(L, "usage", "bad duration %s for %s: give seconds (e.g. 1.5) or a string like "
           "\"250ms\", \"30s\", \"5m\", \"1h30m\"", lua_tostring(L, -1), what);
  return 0;
}
