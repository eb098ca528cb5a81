/* taskrun._journal: the steps of the run in progress, for stdlib/taskrun/step.lua and wait.lua.
 * Every function works on the run tr_durable_current() names; under --no-journal (or a -e run
 * without --run-id) `journaled()` is false and the others are not called. A journal that cannot
 * be written raises: a step's result that is not on disk must not let the run go on. */
#include <lauxlib.h>
#include <sys/time.h>

#include "bindings.h"
#include "durable.h"
#include "errors.h"
#include "signals.h"
#include "stackcheck.h"

/* The open journal and run id, or a raised error when the run is not journaled. */
static tr_journal *current(lua_State *L, const tr_journal_ops **ops, const char **run_id) {
  tr_journal *j = tr_durable_current(ops, run_id);
  if (!j) tr_raise(L, "usage", "taskrun._journal: this run is not journaled");
  return j;
}

static int journal_error(lua_State *L, const tr_journal_ops *ops, tr_journal *j,
                         const char *what) {
  return tr_raise(L, "failed", "cannot %s in the journal: %s; the run stops so that it can be "
                  "resumed", what, ops->error(j));
}

/* journaled() -> boolean: [-0, +1] whether steps are recorded in this run. */
static int l_journaled(lua_State *L) {
  const tr_journal_ops *ops;
  const char *run_id;
  lua_pushboolean(L, tr_durable_current(&ops, &run_id) != NULL);
  return 1;
}

/* retry_failed() -> boolean: [-0, +1] whether --retry-failed was given. */
static int l_retry_failed(lua_State *L) {
  lua_pushboolean(L, tr_durable_retry_failed());
  return 1;
}

/* stopping() -> boolean: [-0, +1] whether a signal or --timeout is ending the run (a step
 * that raises now was interrupted, not failed: it is run again on resume). */
static int l_stopping(lua_State *L) {
  lua_pushboolean(L, tr_signals_pending() || tr_signals_deadline_passed());
  return 1;
}

/* wall() -> number: [-0, +1] seconds since the epoch (a deadline that outlives the process). */
static int l_wall(lua_State *L) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  lua_pushnumber(L, (lua_Number)tv.tv_sec + tv.tv_usec / 1e6);
  return 1;
}

/* get(key, seq) -> nil | state, result_json, error_json: [-2, +3|+1, e] reads one step. */
static int l_get(lua_State *L) {
  TR_STACK_BEGIN(L);
  const char *key = luaL_checkstring(L, 1);
  long long seq = (long long)luaL_checkinteger(L, 2);
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  tr_journal_step s;
  int rc = ops->step_get(j, run_id, key, seq, &s);
  if (rc < 0) return journal_error(L, ops, j, "read a step");
  if (rc == 1) {
    lua_pushnil(L);
    TR_STACK_END(L, 0, 1);
    return 1;
  }
  lua_pushstring(L, s.state);
  lua_pushstring(L, s.result);   /* NULL pushes nil */
  lua_pushstring(L, s.error);
  tr_journal_step_free(&s);
  TR_STACK_END(L, 0, 3);
  return 3;
}

/* started(key, seq [, data_json]): [-3, +0, e] records the step's start, durably, with data
 * (a wait's deadline) when given. */
static int l_started(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  long long seq = (long long)luaL_checkinteger(L, 2);
  const char *data = luaL_optstring(L, 3, NULL);
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  int rc = data ? ops->step_started_with(j, run_id, key, seq, data)
                : ops->step_started(j, run_id, key, seq);
  if (rc != 0) return journal_error(L, ops, j, "record a step's start");
  return 0;
}

/* finished(key, seq, result_json): [-3, +0, e] records the step's results, durably. */
static int l_finished(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  long long seq = (long long)luaL_checkinteger(L, 2);
  const char *result = luaL_checkstring(L, 3);
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  if (ops->step_finished(j, run_id, key, seq, result, NULL) != 0)
    return journal_error(L, ops, j, "record a step's end");
  return 0;
}

/* failed(key, seq, error_json): [-3, +0, e] records the step's error, durably. */
static int l_failed(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  long long seq = (long long)luaL_checkinteger(L, 2);
  const char *err = luaL_checkstring(L, 3);
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  if (ops->step_failed(j, run_id, key, seq, err) != 0)
    return journal_error(L, ops, j, "record a step's failure");
  return 0;
}

int luaopen_taskrun_journal(lua_State *L) {
  static const luaL_Reg fns[] = {
    { "journaled", l_journaled }, { "retry_failed", l_retry_failed },
    { "stopping", l_stopping }, { "wall", l_wall }, { "get", l_get }, { "started", l_started },
    { "finished", l_finished }, { "failed", l_failed }, { NULL, NULL },
  };
  luaL_newlib(L, fns);
  return 1;
}
