/* taskrun._proc: child processes that wait through the loop, under os.execute and io.popen
 * (stdlib/taskrun/proc.lua). A task waiting on a command or its pipe yields like any other
 * wait, so the other tasks run meanwhile and a signal or --timeout reaches it; cancelling it
 * stops the command's process group (runtime/child.c).
 *
 * Where Lua cannot yield (a table.sort comparator, __gc, the <close> handlers of a cancelled
 * task), these block as plain Lua does, except that a signal or the deadline still ends the
 * wait and stops the command. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "child.h"
#include "errors.h"
#include "loop.h"
#include "sched.h"
#include "signals.h"
#include "stackcheck.h"
#include "stop.h"

#define EXEC_MT "taskrun.exec_op"
#define PIPE_MT "taskrun.pipe"

/* [-0, +0, v] Raises the stop error: a blocking wait was ended by a signal or the deadline. */
static int raise_stopped(lua_State *L) {
  tr_stop_push_error(L);
  return lua_error(L);
}

/* [-0, +3] os.execute's results for a reaped child: true|nil, "exit"|"signal", code. */
static int push_status(lua_State *L, const tr_child *c) {
  TR_STACK_BEGIN(L);
  errno = 0;   /* luaL_execresult reports errno when it is set */
  int n = luaL_execresult(L, c->status);
  TR_STACK_END(L, 0, 3);
  return n;
}

/* Waits, blocking, for a child, as the fallback where Lua cannot yield. [-0, +3, e] */
static int wait_blocking(lua_State *L, tr_child *c, int stop) {
  int stopped = tr_child_wait_blocking(c, stop);
  int n = push_status(L, c);
  tr_child_release(c, 0);
  return stopped ? raise_stopped(L) : n;
}

/* ---- os.execute ---- */

typedef struct {
  tr_op op;
  tr_watch watch;   /* the child's pidfd */
  tr_child *child;
} exec_op;

static void exec_fire(tr_watch *w) {
  exec_op *x = (exec_op *)((char *)w - offsetof(exec_op, watch));
  tr_op_complete(&x->op);
}

static void exec_stop(exec_op *x) {
  tr_loop_unwatch(&x->watch);
  if (x->child) tr_child_release(x->child, 1);
  x->child = NULL;
}

/* Its task was cancelled: stop the command. */
static void exec_cancel(tr_op *op) { exec_stop((exec_op *)op); }

/* Collected while waiting (its coroutine went away): the same. */
static int exec_gc(lua_State *L) {
  exec_stop(lua_touserdata(L, 1));
  return 0;
}

static int exec_k(lua_State *L, int status, lua_KContext ctx) {
  exec_op *x = lua_touserdata(L, 2);
  tr_child *c = x->child;
  x->child = NULL;
  if (!tr_child_reap(c)) return wait_blocking(L, c, 0);
  int n = push_status(L, c);
  tr_child_release(c, 0);
  return n;
}

/* execute([cmd]): [-1, +3, e] os.execute, waiting through the loop: true|nil, "exit"|"signal",
 * code; without cmd, whether a shell is there. */
static int l_execute(lua_State *L) {
  const char *cmd = luaL_optstring(L, 1, NULL);
  if (!cmd) {
    lua_pushboolean(L, access("/bin/sh", X_OK) == 0);
    return 1;
  }
  lua_settop(L, 1);
  exec_op *x = lua_newuserdatauv(L, sizeof *x, 0);
  memset(x, 0, sizeof *x);
  luaL_setmetatable(L, EXEC_MT);
  x->op.cancel = exec_cancel;
  tr_watch_init(&x->watch, exec_fire);
  x->child = tr_child_spawn(cmd, -1, -1);
  if (!x->child) return luaL_fileresult(L, 0, NULL);
  if (tr_sched_can_wait(L) && tr_loop_watch(&x->watch, x->child->pidfd, EPOLLIN) == 0)
    return tr_await(L, &x->op, "os.execute", 0, exec_k);
  tr_child *c = x->child;
  x->child = NULL;
  return wait_blocking(L, c, 0);
}

/* ---- io.popen's pipe ---- */

typedef struct {
  tr_op op;
  tr_watch watch;    /* the pipe, or the child's pidfd on close */
  tr_child *child;
  int fd;            /* our end of the pipe, or -1 once closed */
  int writing;       /* "w" mode: we write to the command's stdin */
  int busy;          /* a task waits on it */
} pipe_h;

static void pipe_fire(tr_watch *w) {
  pipe_h *p = (pipe_h *)((char *)w - offsetof(pipe_h, watch));
  tr_op_complete(&p->op);
}

/* Its task was cancelled while waiting on it. After close, the command is stopped: nobody
 * waits for it any more. */
static void pipe_cancel(tr_op *op) {
  pipe_h *p = (pipe_h *)op;
  tr_loop_unwatch(&p->watch);
  p->busy = 0;
  if (p->fd < 0 && p->child) {
    tr_child_release(p->child, 1);
    p->child = NULL;
  }
}

/* Never closed: the command gets EOF or EPIPE and the grace to end on its own (child.c), unless
 * the run is being stopped by a signal or the deadline: then it is stopped too. */
static int pipe_gc(lua_State *L) {
  pipe_h *p = lua_touserdata(L, 1);
  tr_loop_unwatch(&p->watch);
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  if (p->child) tr_child_release(p->child, tr_stop_state_now() != TR_STOP_NONE);
  p->child = NULL;
  return 0;
}

static pipe_h *check_pipe(lua_State *L) {
  pipe_h *p = luaL_checkudata(L, 1, PIPE_MT);
  if (p->fd < 0) luaL_error(L, "attempt to use a closed file");
  if (p->busy)
    tr_raise(L, "usage", "this io.popen file is in use by another task; give each task its own");
  return p;
}

/* Waits for the pipe to be ready for `events`: through the loop, with k as the continuation,
 * or blocking. Returns -1 when it blocked and the pipe is ready now. */
static int wait_pipe(lua_State *L, pipe_h *p, short events, const char *what, lua_KContext ctx,
                     lua_KFunction k) {
  if (tr_sched_can_wait(L) &&
      tr_loop_watch(&p->watch, p->fd, events == POLLIN ? EPOLLIN : EPOLLOUT) == 0) {
    p->busy = 1;
    return tr_await(L, &p->op, what, ctx, k);
  }
  struct pollfd pf = { .fd = p->fd, .events = events };
  while (tr_signals_poll(&pf, 1, -1) < 0) {
    if (errno == EINTR && tr_stop_state_now() == TR_STOP_REQUESTED) return raise_stopped(L);
  }
  return -1;
}

static int fill_k(lua_State *L, int status, lua_KContext ctx);

/* h:fill(): [-1, +1|3, e] the next chunk the command wrote, waiting for it; nil at EOF; nil,
 * message, errno on a read error. */
static int pipe_fill(lua_State *L) {
  static char buf[65536];
  pipe_h *p = check_pipe(L);
  lua_settop(L, 1);
  for (;;) {
    ssize_t n = read(p->fd, buf, sizeof buf);
    if (n > 0) {
      lua_pushlstring(L, buf, (size_t)n);
      return 1;
    }
    if (n == 0) {
      lua_pushnil(L);
      return 1;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return luaL_fileresult(L, 0, NULL);
    int r = wait_pipe(L, p, POLLIN, "io.popen read", 0, fill_k);
    if (r >= 0) return r;
  }
}

static int fill_k(lua_State *L, int status, lua_KContext ctx) {
  ((pipe_h *)lua_touserdata(L, 1))->busy = 0;
  return pipe_fill(L);
}

static int write_k(lua_State *L, int status, lua_KContext ctx);

/* h:write(s): [-2, +1|3, e] writes all of s, waiting while the pipe is full: true, or nil,
 * message, errno (EPIPE once the command stopped reading). ctx: the bytes already written. */
static int pipe_write_from(lua_State *L, size_t done) {
  pipe_h *p = check_pipe(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  lua_settop(L, 2);
  while (done < len) {
    ssize_t n = write(p->fd, s + done, len - done);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return luaL_fileresult(L, 0, NULL);
    int r = wait_pipe(L, p, POLLOUT, "io.popen write", (lua_KContext)done, write_k);
    if (r >= 0) return r;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int pipe_write(lua_State *L) { return pipe_write_from(L, 0); }

static int write_k(lua_State *L, int status, lua_KContext ctx) {
  ((pipe_h *)lua_touserdata(L, 1))->busy = 0;
  return pipe_write_from(L, (size_t)ctx);
}

static int close_k(lua_State *L, int status, lua_KContext ctx) {
  pipe_h *p = lua_touserdata(L, 1);
  tr_child *c = p->child;
  p->busy = 0;
  p->child = NULL;
  if (!tr_child_reap(c)) return wait_blocking(L, c, 0);
  int n = push_status(L, c);
  tr_child_release(c, 0);
  return n;
}

/* h:close(): [-1, +3, e] closes the pipe and waits for the command: true|nil,
 * "exit"|"signal", code, as os.execute. Once the run is being stopped (the <close> handlers
 * after a signal or the deadline), the command is stopped instead of waited for. */
static int pipe_close(lua_State *L) {
  pipe_h *p = check_pipe(L);
  lua_settop(L, 1);
  close(p->fd);
  p->fd = -1;
  if (tr_sched_can_wait(L) && tr_loop_watch(&p->watch, p->child->pidfd, EPOLLIN) == 0) {
    p->busy = 1;
    return tr_await(L, &p->op, "io.popen close", 0, close_k);
  }
  tr_child *c = p->child;
  p->child = NULL;
  return wait_blocking(L, c, tr_stop_state_now() == TR_STOP_HANDLED);
}

/* open(cmd, mode): [-2, +1|3] starts cmd with a pipe to its stdout ("r") or from its stdin
 * ("w"): the pipe's handle, or nil, message, errno. */
static int l_open(lua_State *L) {
  const char *cmd = luaL_checkstring(L, 1);
  int writing = strcmp(luaL_checkstring(L, 2), "w") == 0;
  int fds[2];
  lua_settop(L, 2);
  pipe_h *p = lua_newuserdatauv(L, sizeof *p, 0);
  memset(p, 0, sizeof *p);
  p->fd = -1;
  p->op.cancel = pipe_cancel;
  p->writing = writing;
  tr_watch_init(&p->watch, pipe_fire);
  luaL_setmetatable(L, PIPE_MT);
  if (pipe2(fds, O_CLOEXEC) < 0) return luaL_fileresult(L, 0, cmd);
  int ours = writing ? fds[1] : fds[0], theirs = writing ? fds[0] : fds[1];
  p->child = tr_child_spawn(cmd, writing ? theirs : -1, writing ? -1 : theirs);
  int saved = errno;
  close(theirs);
  if (!p->child) {
    close(ours);
    errno = saved;
    return luaL_fileresult(L, 0, cmd);
  }
  p->fd = ours;
  fcntl(ours, F_SETFL, fcntl(ours, F_GETFL) | O_NONBLOCK);
  return 1;
}

void tr_proc_install(lua_State *L) {
  static const luaL_Reg pipe_methods[] = {
    { "fill", pipe_fill }, { "write", pipe_write }, { "close", pipe_close }, { NULL, NULL }
  };
  static const luaL_Reg funcs[] = { { "execute", l_execute }, { "open", l_open }, { NULL, NULL } };
  TR_STACK_BEGIN(L);
  luaL_newmetatable(L, EXEC_MT);
  lua_pushcfunction(L, exec_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, PIPE_MT);
  lua_pushcfunction(L, pipe_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, pipe_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  /* taskrun.proc returns the function that takes these and puts them in place. */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "taskrun.proc");
  lua_call(L, 1, 1);
  luaL_newlib(L, funcs);
  lua_call(L, 1, 0);
  TR_STACK_END(L, 0, 0);
}
