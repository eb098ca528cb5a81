/* taskrun._journal: the steps of the run in progress, for stdlib/taskrun/step.lua, calls.lua and
 * wait.lua.
 * Every function works on the run tr_durable_current() names; under --no-journal (or a -e run
 * without --run-id) `journaled()` is false and the others are not called. A journal that cannot
 * be written raises: a step's result that is not on disk must not let the run go on. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "bindings.h"
#include "durable.h"
#include "errors.h"
#include "hash.h"
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

/* resumed() -> boolean: [-0, +1] whether this journaled run is resumed (a first attempt has no
 * steps to look up). */
static int l_resumed(lua_State *L) {
  lua_pushboolean(L, tr_durable_resumed());
  return 1;
}

/* run_id() -> string: [-0, +1, e] the journal's id of this run. */
static int l_run_id(lua_State *L) {
  const tr_journal_ops *ops;
  const char *run_id;
  current(L, &ops, &run_id);
  lua_pushstring(L, run_id);
  return 1;
}

/* run_started() -> number: [-0, +1] when this run began (its first attempt), epoch seconds. */
static int l_run_started(lua_State *L) {
  lua_pushnumber(L, tr_durable_run_started());
  return 1;
}

/* attempt() -> integer: [-0, +1] the attempt of this run (1 on its first start). */
static int l_attempt(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)tr_durable_attempt());
  return 1;
}

/* mark_in_doubt(): [-0, +0] a provider call was sent and its answer lost: a failed end of this
 * run is recorded in-doubt (resumable), so that running it again reconciles the call. */
static int l_mark_in_doubt(lua_State *L) {
  (void)L;
  tr_durable_mark_in_doubt();
  return 0;
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

/* get(key, seq) -> nil | state, result_json, error_json, created_id, started: [-2, +5|+1, e]
 * reads one step (started: when it began, epoch seconds). */
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
  lua_pushstring(L, s.created_id);
  lua_pushnumber(L, s.started);
  tr_journal_step_free(&s);
  TR_STACK_END(L, 0, 5);
  return 5;
}

/* started(key, seq [, data_json [, durable]]): [-4, +0, e] records the step's start, with data
 * (a wait's deadline, a call's arguments) when given; on disk before it returns when `durable`
 * (journal.h says what the other writes survive). */
static int l_started(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  long long seq = (long long)luaL_checkinteger(L, 2);
  const char *data = luaL_optstring(L, 3, NULL);
  int durable = lua_toboolean(L, 4);
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  if (ops->step_started(j, run_id, key, seq, data, durable) != 0)
    return journal_error(L, ops, j, "record a step's start");
  return 0;
}

/* finished(key, seq, result_json [, created_id [, durable]]): [-5, +0, e] records the step's
 * results and the id of what it created, if any. */
static int l_finished(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  long long seq = (long long)luaL_checkinteger(L, 2);
  const char *result = luaL_checkstring(L, 3);
  const char *created = luaL_optstring(L, 4, NULL);
  int durable = lua_toboolean(L, 5);
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  if (ops->step_ended(j, run_id, key, seq, TR_STEP_FINISHED, result, NULL, created, durable) != 0)
    return journal_error(L, ops, j, "record a step's end");
  return 0;
}

/* ---- taskrun.step, journaled: step_runner ----
 * The runner's upvalues: */
#define UP_ENCODE_ERROR 1   /* encode_error(err) -> the journal's text of an error */
#define UP_DECODE 2         /* decode(result_json) -> the results the text holds */
#define UP_RAISE 3          /* raise_recorded(error_json): raises the error the text holds */
#define UP_COUNTS 4         /* name -> the calls of that name so far in this run */

/* What the encoding of a step's results hands the journal. */
typedef struct {
  const tr_journal_ops *ops;
  tr_journal *j;
  const char *run_id, *name;
  long long seq;
  int objects;   /* a value is an object: the text comes back to Lua */
  int rc;        /* the journal's answer */
} results_ctx;

static int record_results_text(lua_State *L, void *ud, const char *text, size_t len) {
  results_ctx *c = ud;
  c->rc = c->ops->step_ended(c->j, c->run_id, c->name, c->seq, TR_STEP_FINISHED, text, NULL,
                             NULL, 0);
  if (c->rc != 0 || !c->objects) return 0;
  lua_pushlstring(L, text, len);
  return 1;
}

/* [-0, +(0|k), e] The step's beginning: on a resumed run, a step the journal holds as finished
 * pushes its k results (decode's) and returns k; one that failed raises its error again
 * (raise_recorded), unless --retry-failed was given. Else records the start: returns -1 (run
 * the function). */
static int step_begin(lua_State *L, const char *name, long long seq) {
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  if (tr_durable_resumed()) {
    tr_journal_step s;
    int rc = ops->step_get(j, run_id, name, seq, &s);
    if (rc < 0) return journal_error(L, ops, j, "read a step");
    if (rc == 0) {
      int done = strcmp(s.state, TR_STEP_FINISHED) == 0;
      int failed = strcmp(s.state, TR_STEP_FAILED) == 0 && !tr_durable_retry_failed();
      int base = lua_gettop(L);
      if (done || failed) {
        lua_pushvalue(L, lua_upvalueindex(done ? UP_DECODE : UP_RAISE));
        lua_pushstring(L, done ? s.result : s.error);
      }
      tr_journal_step_free(&s);
      if (done || failed) {
        lua_call(L, 1, LUA_MULTRET);   /* raise_recorded does not return */
        return lua_gettop(L) - base;
      }
    }
  }
  if (ops->step_started(j, run_id, name, seq, NULL, 0) != 0)
    return journal_error(L, ops, j, "record a step's start");
  return -1;
}

/* [-0, +(0|k), e] The step's end when its function returned the values at first..top: records
 * them as {"n": count, "v": [values, null for nil]} and returns how many values to return from
 * the top: the values themselves (nothing pushed), or, when one is an object (a table with a
 * metatable), the k that decode makes of the text, pushed: the step returns an object's plain
 * fields, as a resume would. A value JSON cannot hold is a `usage` error. */
static int step_returned(lua_State *L, int first, const char *name, long long seq) {
  results_ctx c;
  c.name = name;
  c.seq = seq;
  c.j = current(L, &c.ops, &c.run_id);
  c.objects = 0;
  c.rc = 0;
  int top = lua_gettop(L);
  for (int i = first; i <= top && !c.objects; i++) {
    if (lua_type(L, i) == LUA_TTABLE && lua_getmetatable(L, i)) {
      lua_pop(L, 1);
      c.objects = 1;
    }
  }
  luaL_checkstack(L, 4, "taskrun.step");
  tr_json_encode_results(L, first, name, record_results_text, &c);
  if (c.rc != 0) return journal_error(L, c.ops, c.j, "record a step's end");
  if (!c.objects) return top - first + 1;
  lua_pushvalue(L, lua_upvalueindex(UP_DECODE));
  lua_rotate(L, -2, 1);   /* decode(text) */
  lua_call(L, 1, LUA_MULTRET);
  return lua_gettop(L) - top;
}

/* [-0, +0, v] The step's function raised the error at top: unless a signal or --timeout is
 * ending the run (the step was interrupted, not failed: the journal keeps "started" and a resume
 * runs it again), records the error as encode_error gives it. Raises it again, as it was. */
static int step_raised(lua_State *L, const char *name, long long seq) {
  int err = lua_gettop(L);
  if (!(tr_signals_pending() || tr_signals_deadline_passed())) {
    const tr_journal_ops *ops;
    const char *run_id;
    tr_journal *j = current(L, &ops, &run_id);
    lua_pushvalue(L, lua_upvalueindex(UP_ENCODE_ERROR));
    lua_pushvalue(L, err);
    lua_call(L, 1, 1);
    if (ops->step_ended(j, run_id, name, seq, TR_STEP_FAILED, NULL, luaL_checkstring(L, -1),
                        NULL, 0) != 0)
      return journal_error(L, ops, j, "record a step's failure");
    lua_settop(L, err);
  }
  return lua_error(L);
}

/* The continuation of run's protected call of the function (also after it yielded): the stack
 * is name, seq, then its results or its error. */
static int run_done(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  const char *name = lua_tostring(L, 1);
  long long seq = (long long)lua_tointeger(L, 2);
  if (status != LUA_OK && status != LUA_YIELD) return step_raised(L, name, seq);
  return step_returned(L, 3, name, seq);
}

/* run(name, fn, ...) -> ...: [-(2+n), +k, e] taskrun.step(name, fn, ...) of a journaled run, its
 * arguments checked by step.lua: the step is the name's seq-th call in this run; a resumed run
 * gets its results (or its error) from the journal; else its start is recorded, fn(...) runs
 * (it may yield), and its results, or its error, are recorded. A closure made by step_runner. */
static int l_run_step(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_pushvalue(L, 1);
  lua_Integer seq = (lua_rawget(L, lua_upvalueindex(UP_COUNTS)) == LUA_TNUMBER
                     ? lua_tointeger(L, -1) : 0) + 1;
  lua_pop(L, 1);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, seq);
  lua_rawset(L, lua_upvalueindex(UP_COUNTS));
  int k = step_begin(L, name, (long long)seq);
  if (k >= 0) return k;
  lua_pushinteger(L, seq);
  lua_rotate(L, 2, 1);   /* name, seq, fn, args */
  int status = lua_pcallk(L, lua_gettop(L) - 3, LUA_MULTRET, 0, 0, run_done);
  return run_done(L, status, 0);
}

/* step_runner(encode_error, decode, raise_recorded) -> run: [-3, +1] taskrun.step's journaled
 * part (l_run_step), with what it needs from step.lua: encode_error(err) -> the journal's text of
 * an error, decode(text) -> the results a text holds, raise_recorded(text) raises the error a
 * text holds. Each runner counts the calls of each name anew. */
static int l_step_runner(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  lua_newtable(L);
  lua_pushcclosure(L, l_run_step, 4);
  return 1;
}

/* failed(key, seq, error_json [, durable]): [-4, +0, e] records the step's error. */
static int l_failed(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  long long seq = (long long)luaL_checkinteger(L, 2);
  const char *err = luaL_checkstring(L, 3);
  int durable = lua_toboolean(L, 4);
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  if (ops->step_ended(j, run_id, key, seq, TR_STEP_FAILED, NULL, err, NULL, durable) != 0)
    return journal_error(L, ops, j, "record a step's failure");
  return 0;
}

/* known_id(id) -> boolean: [-1, +1, e] whether a step of any run created `id` already. */
static int l_known_id(lua_State *L) {
  const char *id = luaL_checkstring(L, 1);
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  int rc = ops->created_known(j, id);
  if (rc < 0) return journal_error(L, ops, j, "look up a created id");
  lua_pushboolean(L, rc);
  return 1;
}

/* hash(text) -> string: [-1, +1, e] 16 hex digits of text's 64-bit FNV-1a (a call's key). */
static int l_hash(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)tr_fnv1a64(TR_FNV1A64_INIT, s, n));
  lua_pushstring(L, hex);
  return 1;
}

typedef struct {
  lua_State *L;
  const char *prefix;
  size_t prefix_len;
  lua_Integer n;
} steps_acc;

static int push_step(void *ud, const tr_journal_step *s) {
  steps_acc *a = ud;
  if (strncmp(s->step_key, a->prefix, a->prefix_len) != 0) return 0;
  lua_State *L = a->L;
  lua_createtable(L, 0, 6);
  lua_pushstring(L, s->step_key);
  lua_setfield(L, -2, "key");
  lua_pushinteger(L, (lua_Integer)s->seq);
  lua_setfield(L, -2, "seq");
  lua_pushstring(L, s->state);
  lua_setfield(L, -2, "state");
  lua_pushnumber(L, s->started);
  lua_setfield(L, -2, "started");
  lua_pushstring(L, s->result);
  lua_setfield(L, -2, "result");
  lua_pushstring(L, s->created_id);
  lua_setfield(L, -2, "created_id");
  lua_rawseti(L, -2, ++a->n);
  return 0;
}

/* steps(prefix) -> list: [-1, +1, e] this run's steps whose key starts with prefix, in the
 * order they first started: { key, seq, state, started, result, created_id } each. */
static int l_steps(lua_State *L) {
  TR_STACK_BEGIN(L);
  size_t len;
  const char *prefix = luaL_checklstring(L, 1, &len);
  const tr_journal_ops *ops;
  const char *run_id;
  tr_journal *j = current(L, &ops, &run_id);
  lua_newtable(L);
  steps_acc a = { L, prefix, len, 0 };
  if (ops->steps_list(j, run_id, push_step, &a) != 0)
    return journal_error(L, ops, j, "list the steps");
  TR_STACK_END(L, 0, 1);
  return 1;
}

int luaopen_taskrun_journal(lua_State *L) {
  static const luaL_Reg fns[] = {
    { "journaled", l_journaled }, { "resumed", l_resumed }, { "retry_failed", l_retry_failed },
    { "stopping", l_stopping }, { "wall", l_wall }, { "get", l_get }, { "started", l_started },
    { "finished", l_finished }, { "step_runner", l_step_runner }, { "failed", l_failed },
    { "hash", l_hash },
    { "steps", l_steps }, { "run_id", l_run_id }, { "mark_in_doubt", l_mark_in_doubt },
    { "known_id", l_known_id }, { "attempt", l_attempt },
    { "run_started", l_run_started },
    { NULL, NULL },
  };
  luaL_newlib(L, fns);
  return 1;
}
