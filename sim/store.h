/* The task store: every provider's tasks (and Keycard installs) with their step lists, and
 * the rule that says which step a task is in now. */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <stdint.h>
#include <jansson.h>
#include "config.h"

typedef enum { SIM_KIND_TASK, SIM_KIND_INSTALL } sim_kind;

typedef struct sim_task {
  sim_provider provider;
  sim_kind kind;
  char *scope;            /* Keycard zone; "" elsewhere */
  char *id;
  json_t *fields;         /* the vendor body, minus what the current step sets */
  json_t *steps;          /* objects, each with "state" and optional "ms" and extra fields */
  int poll_mode;          /* one step per read instead of one per step_ms */
  double step_ms;         /* < 0: the configured default */
  double started_ms;      /* monotonic time the current step list began */
  size_t reads;           /* reads since the step list began, for poll mode */
  int64_t created_epoch_ms;
  int shape;              /* < 0: configured body shape; else 0 or 1 as in sim_config */
  unsigned long seq;      /* creation order, for lists */
  int settled;            /* its outcome (Redpanda topics) has been applied */
  int watched;            /* on the list of Redpanda tasks with topics not yet settled */
  struct sim_task *hash_next, *next, *prev;
  struct sim_task *watch_next, *watch_prev;
} sim_task;

/* Everything below except sim_store_clear runs with the store lock held. */
void sim_store_lock(void);
void sim_store_unlock(void);

/* Adds a task, taking the references to fields and steps; an existing task with the same
 * provider, kind, scope and id is replaced. Steps must be normalised. */
sim_task *sim_store_add(sim_provider p, sim_kind kind, const char *scope, const char *id,
                        json_t *fields, json_t *steps);
/* NULL when there is no such task. */
sim_task *sim_store_find(sim_provider p, sim_kind kind, const char *scope, const char *id);
/* Walks all tasks in creation order: start with NULL. */
sim_task *sim_store_next(sim_task *after);
/* Walks the Redpanda tasks whose topics are still to be applied (a Redpanda task with a
 * non-empty "topics" list joins at its creation), in creation order: start with NULL. Listing
 * topics settles these only, not every task of the store (100,000 waits list topics 25,000
 * times). */
sim_task *sim_store_next_unsettled(sim_task *after);
/* Takes t off that list: it is settled. */
void sim_store_settled(sim_task *t);
/* Unlinks and frees t. */
void sim_store_remove(sim_task *t);
/* Drops every task; takes the lock itself. */
void sim_store_clear(void);
/* A fresh int32 ID for Redpanda, above any ID seen so far. */
int sim_store_next_number(void);
/* Records an ID chosen elsewhere, so fresh IDs never collide with it. */
void sim_store_note_number(long id);

/* The current step (borrowed). consume counts this as a read, which moves a poll-mode task
 * to its next step for the following read. */
json_t *sim_task_step(sim_task *t, int consume);
/* Starts the task over on a new step list (reference taken), e.g. after a cancel. */
void sim_task_restart(sim_task *t, json_t *steps);
/* The step index the task is in, without counting a read. */
size_t sim_task_step_index(sim_task *t);
/* The step index a client last saw: in poll mode the step of the last read (the first step
 * before any read), in time mode the current one. */
size_t sim_task_shown_index(sim_task *t);

/* Turns strings into {"state": s}; returns a new array, or NULL and a message in err. */
json_t *sim_steps_normalise(json_t *steps, char *err, size_t errsize);
/* Builds steps from a list of state names. */
json_t *sim_steps_of(const char *const *states);
/* The admin view of a task. */
json_t *sim_task_describe(sim_task *t);

#endif
