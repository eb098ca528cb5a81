/* The runbook's stdout and stderr. Lua's print and io library write with fwrite and never look
 * back: a token echoed by a vendor reached stdout unredacted, and a write into a full disk or
 * a closed pipe was ignored (taskrun ignores SIGPIPE for libcurl), so `| head -1` never ended.
 * Here every such write is redacted like a log line, the status block steps aside for it, and
 * the first failed write to stdout ends the run: the run loop asks tr_output_broken.
 *
 * The replacements keep Lua's behaviour: print uses __tostring and tabs and flushes; io.write
 * and file:write take strings and numbers (written as Lua writes them), raise for anything
 * else, and return the file; a file that is not stdout or stderr is written as it always was. */
#include "output.h"

#include "durable.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "run.h"
#include "run_end.h"
#include "secrets.h"
#include "stackcheck.h"
#include "status.h"

static struct {
  int broken;      /* errno of the failed write to stdout, 0 while it works */
  int finished;    /* tr_output_finish ran: the exit hook has nothing left to do */
  int tty;         /* stdout is a terminal: -1 until asked */
} out = { 0, 0, -1 };

static void broke(int err) {
  if (out.broken) return;
  out.broken = err ? err : EIO;
  /* The run ends now; the errors that follow from it (the print that raised, the tasks that
   * get cancelled) are not news. tr_output_finish says what happened. */
  tr_log_reports_off(1);
}

int tr_output_broken(void) { return out.broken; }

int tr_output_write(FILE *f, const char *s, size_t len, int flush) {
  if (f == stdout && out.broken) return out.broken;
  /* What the runbook writes says it went on: the steps it did are committed first (a failure is
   * reported, and stops the run at the loop's next turn). */
  tr_durable_flush();
  int std = f == stdout || f == stderr;
  char *safe = NULL;
  size_t n = len;
  if (std) {
    int failed = 0;
    safe = tr_redact_changed(s, len, &n, &failed);
    if (failed) return ENOMEM;   /* better nothing than the secret */
  }
  /* --log-on-failure holds what goes to stderr with the log lines, in order. */
  if (f == stderr && tr_log_capture(safe ? safe : s, n)) {
    free(safe);
    return 0;
  }
  if (out.tty < 0) out.tty = isatty(STDOUT_FILENO);
  /* The block lives at the bottom of stderr: it steps aside for stderr, and for a stdout that
   * is a terminal too (the same screen, as a rule), or the write would land inside it. */
  int aside = f == stderr || (f == stdout && out.tty);
  if (aside) tr_status_hide();
  int err = 0;
  errno = 0;
  if (n && fwrite(safe ? safe : s, 1, n, f) != n) err = errno ? errno : EIO;
  if (!err && (flush || aside) && fflush(f) != 0) err = errno ? errno : EIO;
  if (aside) tr_status_show();
  free(safe);
  if (err && f == stdout) broke(err);
  return err;
}

/* ---- Lua ---- */

static int stdout_failed(lua_State *L) {
  lua_pushfstring(L, "cannot write to stdout: %s", strerror(out.broken));
  return lua_error(L);
}

/* After a failed write to f: stdout raises (the run is ending), another file answers
 * nil, message, errno as Lua's own io functions do. */
static int write_result(lua_State *L, FILE *f, int err, int file_idx) {
  if (!err) {
    lua_pushvalue(L, file_idx);
    return 1;
  }
  if (f == stdout && out.broken) return stdout_failed(L);
  errno = err;
  return luaL_fileresult(L, 0, NULL);
}

/* Writes arguments first..last to f as Lua's g_write does, in one piece, and pushes what the
 * Lua function returns (write_result). */
static int write_args(lua_State *L, FILE *f, int first, int last, int file_idx) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = first; i <= last; i++) {
    if (lua_type(L, i) == LUA_TNUMBER) {
      char num[64];   /* "%.14g" of a double, or an integer, fits */
      int k = lua_isinteger(L, i)
        ? snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, i))
        : snprintf(num, sizeof num, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, i));
      luaL_addlstring(&b, num, (size_t)k < sizeof num ? (size_t)k : sizeof num - 1);
    } else {
      size_t len;
      const char *s = luaL_checklstring(L, i, &len);
      luaL_addlstring(&b, s, len);
    }
  }
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  int err = tr_output_write(f, s, len, 0);
  lua_pop(L, 1);
  return write_result(L, f, err, file_idx);
}

static FILE *open_file(lua_State *L, int idx) {
  luaL_Stream *p = luaL_checkudata(L, idx, LUA_FILEHANDLE);
  if (!p->closef) luaL_error(L, "attempt to use a closed file");
  return p->f;
}

/* [-0, +1, e] Pushes the default output file (io.output(), the upvalue) and returns it. */
static FILE *default_output(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_call(L, 0, 1);
  luaL_Stream *p = luaL_testudata(L, -1, LUA_FILEHANDLE);
  if (!p || !p->closef) luaL_error(L, "default output file is closed");
  return p->f;
}

static int flush_result(lua_State *L, FILE *f) {
  errno = 0;
  int ok = fflush(f) == 0;
  if (f == stdout && !ok) broke(errno);
  if (f == stdout && out.broken) return stdout_failed(L);
  return luaL_fileresult(L, ok, NULL);
}

/* print(...): [-n, +0, e] */
static int l_print(lua_State *L) {
  TR_STACK_BEGIN(L);
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  /* Lua's print flushes every line, so it interleaves with the log as written. */
  if (tr_output_write(stdout, s, len, 1) != 0 && out.broken) return stdout_failed(L);
  lua_settop(L, 0);
  TR_STACK_END(L, n, 0);
  return 0;
}

/* io.write(...): returns the default output file, or nil, message, errno. */
static int l_io_write(lua_State *L) {
  int n = lua_gettop(L);
  FILE *f = default_output(L);
  return write_args(L, f, 1, n, n + 1);
}

/* io.flush(): true, or nil, message, errno. */
static int l_io_flush(lua_State *L) {
  return flush_result(L, default_output(L));
}

/* file:write(...): returns the file, or nil, message, errno. */
static int l_file_write(lua_State *L) {
  FILE *f = open_file(L, 1);
  return write_args(L, f, 2, lua_gettop(L), 1);
}

/* file:flush(): true, or nil, message, errno. */
static int l_file_flush(lua_State *L) {
  return flush_result(L, open_file(L, 1));
}

void tr_output_install(lua_State *L) {
  TR_STACK_BEGIN(L);
  lua_pushcfunction(L, l_print);
  lua_setglobal(L, "print");
  lua_getglobal(L, "io");
  lua_getfield(L, -1, "output");
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_io_write, 1);
  lua_setfield(L, -3, "write");
  lua_pushcclosure(L, l_io_flush, 1);
  lua_setfield(L, -2, "flush");
  lua_pop(L, 1);
  /* The methods of every file, io.stdout and io.stderr among them. */
  luaL_getmetatable(L, LUA_FILEHANDLE);
  lua_getfield(L, -1, "__index");
  lua_pushcfunction(L, l_file_write);
  lua_setfield(L, -2, "write");
  lua_pushcfunction(L, l_file_flush);
  lua_setfield(L, -2, "flush");
  lua_pop(L, 2);
  TR_STACK_END(L, 0, 0);
}

/* ---- the end of the run ---- */

int tr_output_finish(int code) {
  out.finished = 1;
  errno = 0;
  if (fflush(stdout) != 0) broke(errno);
  if (!out.broken) return code;
  if (out.broken == EPIPE) return TR_EXIT_PIPE;
  char msg[256];
  snprintf(msg, sizeof msg, "cannot write to stdout: %s", strerror(out.broken));
  tr_log_reports_off(0);
  tr_end_report(NULL, msg);
  return TR_EXIT_ERROR;
}

/* os.exit() and every other exit() that skips the end of main: the last flush is checked
 * here. Registered first, so it runs last, after the hooks that erase the status block and
 * stop --sim's simulator. */
static void at_exit(void) {
  if (out.finished) return;
  int code = tr_output_finish(0);
  if (code != 0) _exit(code);
}

void tr_output_init(void) { atexit(at_exit); }
