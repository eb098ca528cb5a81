/* The scheduler: every runbook runs as a task, a Lua coroutine pinned in the registry from spawn
 * to finish. A binding that must wait records an operation on the current task and yields; the
 * loop later completes the operation, which only queues the task. Tasks are resumed from the
 * ready queue and nowhere else. */
#ifndef TR_SCHED_H
#define TR_SCHED_H
#include <lua.h>

typedef struct tr_task tr_task;
typedef struct tr_op tr_op;

/* What a waiting task waits on. Embed it in the binding's own state (a userdata that stays on
 * the waiting coroutine's stack, so it outlives the wait). */
struct tr_op {
  /* The task is being cancelled before the op completed: release what the op holds, at once. */
  void (*cancel)(tr_op *op);
  tr_task *task;
};

typedef enum {
  TR_TASK_READY, TR_TASK_RUNNING, TR_TASK_WAITING, TR_TASK_DONE, TR_TASK_FAILED, TR_TASK_CANCELLED
} tr_task_state;

/* Sets up the registry tables and the task metatable. */
void tr_sched_init(lua_State *L);

/* [-(nargs+1), +1, m] Starts a task running the function below the nargs arguments on the top
 * of L, and pushes its handle. It first runs on the next pass of the ready queue. */
tr_task *tr_sched_spawn(lua_State *L, int nargs);

/* [-0, +0, e] Makes the current task wait on op, yielding to the loop; `k` runs when the op
 * completes and builds the results there. `what` names the waiting call for error messages.
 * Raises "cannot wait here" where Lua cannot yield. */
int tr_await(lua_State *L, tr_op *op, const char *what, lua_KContext ctx, lua_KFunction k);

/* Whether a wait is possible here: a task runs and L can yield. Check it before starting the
 * work an op stands for, so a refused wait never leaves a timer or transfer behind. */
int tr_sched_can_wait(lua_State *L);

/* The op is finished (its result is stored in the op's owner): queue its task. */
void tr_op_complete(tr_op *op);

/* Resumes every task that was ready when the pass began. */
void tr_sched_run_ready(void);
int tr_sched_has_ready(void);
/* Tasks spawned and not yet finished. */
int tr_sched_live(void);

/* Cancels every unfinished task (their <close> handlers run). Returns how many it cancelled. */
int tr_sched_cancel_all(void);

/* The main task's end: TR_TASK_DONE, TR_TASK_FAILED or TR_TASK_CANCELLED, or another state while
 * it runs. On failure, [-0, +1] pushes its error value, and *traceback is set (may be NULL). */
tr_task_state tr_sched_main_state(void);
void tr_sched_push_main_error(lua_State *L, const char **traceback);
/* Failed tasks that nobody joined (each was reported on stderr when it failed). */
int tr_sched_unjoined_failures(void);

/* The current task's wait op, for the coroutine wrappers that must abandon it. */
void tr_sched_abandon_current_op(void);

/* Registry key of the Lua function that describes what the run waits on, for interrupts. */
#define TR_INTERRUPT_HOOK "taskrun.interrupt_hook"

/* The value the wait machinery yields; only the scheduler and the coroutine wrappers see it. */
extern char tr_wait_sentinel;
#define TR_SENTINEL ((void *)&tr_wait_sentinel)

#endif
