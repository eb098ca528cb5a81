/* The scheduler: every runbook runs as a task, a Lua coroutine pinned in the registry from spawn
 * to finish. A binding that must wait records an operation on the current task and yields; the
 * loop later completes the operation, which only queues the task. Tasks are resumed from the
 * ready queue and nowhere else. */
#ifndef TR_SCHED_H
#define TR_SCHED_H
#include <lua.h>

typedef struct tr_task tr_task;
typedef struct tr_op tr_op;

/* What a waiting task waits on. Embed it in the binding's own state, a full userdata that is on
 * the top of the stack when tr_await is called: the scheduler keeps that userdata alive until
 * the task waits again or is collected, so the op outlives the wait whatever happens to the
 * coroutine it was made in. The binding sets `cancel` and zeroes the rest. */
struct tr_op {
  /* The task is being cancelled before the op completed: release what the op holds, at once. */
  void (*cancel)(tr_op *op);
  /* The scheduler's own, set by tr_await. */
  tr_task *task;
  int done;                /* completed: its continuation may run */
  const char *what;
  lua_KFunction k;
  lua_KContext ctx;
};

typedef enum {
  TR_TASK_READY, TR_TASK_RUNNING, TR_TASK_WAITING, TR_TASK_DONE, TR_TASK_FAILED, TR_TASK_CANCELLED
} tr_task_state;

/* [-0, +0, m] Sets up the registry tables and the task metatable. */
void tr_sched_init(lua_State *L);

/* [-(nargs+1), +1, m] Starts a task running the function below the nargs arguments on the top
 * of L, and pushes its handle. It first runs on the next pass of the ready queue. */
tr_task *tr_sched_spawn(lua_State *L, int nargs);

/* [-0, +0, e] Makes the current task wait on op, yielding to the loop; `k` runs when the op has
 * completed, in the task, and builds the results there. The op must lie in the full userdata on
 * the top of L. `what` names the waiting call for error messages. Raises "cannot wait here"
 * where Lua cannot yield; raises kind usage in the waiting coroutine, after cancelling the op,
 * if anything but the scheduler resumes it before the op completed. */
int tr_await(lua_State *L, tr_op *op, const char *what, lua_KContext ctx, lua_KFunction k);

/* Whether a wait is possible here: a task runs and L can yield. Check it before starting the
 * work an op stands for (or linking the op anywhere), so a refused wait never leaves a timer, a
 * transfer or a link behind: tr_await raises before yielding, never after. */
int tr_sched_can_wait(lua_State *L);
/* [-0, +0, e] Raises what tr_await raises where no wait is possible; returns otherwise. Call it
 * before allocating C resources for an op: a __gc run while the state closes cannot register
 * new finalizers, so what it allocates must not outlive the refusal. */
void tr_sched_check_wait(lua_State *L, const char *what);

/* The op is finished (its result is stored in the op's owner): queue its task. */
void tr_op_complete(tr_op *op);

/* Resumes every task that was ready when the pass began. */
void tr_sched_run_ready(void);
int tr_sched_has_ready(void);
/* Tasks spawned and not yet finished. */
int tr_sched_live(void);

/* [-0, +0, m] Cancels every unfinished task (their <close> handlers run). Returns how many it
 * cancelled. Also ends tasks whose finishing an error interrupted (see run.c). */
int tr_sched_cancel_all(void);

/* The main task's end: TR_TASK_DONE, TR_TASK_FAILED or TR_TASK_CANCELLED, or another state while
 * it runs. */
tr_task_state tr_sched_main_state(void);
/* [-0, +1] On the main task's failure: pushes its error value, and sets *traceback and *where
 * (the runbook's "file:line" it was raised at); either may be NULL; the strings live as long as
 * the main task's outcome. */
void tr_sched_push_main_error(lua_State *L, const char **traceback, const char **where);
/* Failed tasks (the main one aside) whose failure no join has taken yet. */
int tr_sched_unjoined_failures(void);
/* [-0, +0, m] At the end of a run whose main task succeeded: the exit code of the first failure
 * (in time) that nobody joined, by its kind (README: exit codes), or 0 when every failure was
 * joined; that failure's error goes into the end event (tr_end_note_error). A failure not
 * reported yet (its joiners were cancelled before they took it) is reported now. */
int tr_sched_unjoined_exit_code(void);

/* The current task's wait op, for the coroutine wrappers that must abandon it. */
void tr_sched_abandon_current_op(void);

/* [-0, +1] Lua: task_id(thread) -> the id of the task whose own thread it is, or nil. The
 * coroutine wrappers refuse to resume or close a task's thread. */
int tr_sched_task_id_lua(lua_State *L);

/* Registry key of the Lua function that describes what the run waits on, for interrupts. */
#define TR_INTERRUPT_HOOK "taskrun.interrupt_hook"

/* The value the wait machinery yields; only the scheduler and the coroutine wrappers see it. */
extern char tr_wait_sentinel;
#define TR_SENTINEL ((void *)&tr_wait_sentinel)

#endif
