/* Held step records: the writes of steps that are not durable (explicit steps, waits), kept in
 * memory by a journal backend until it writes them together (journal_sqlite.c as step_log
 * rows, journal_pg.c as one statement). Every held record is of one run. A record's texts are
 * copies in blocks the set owns: a record costs no allocation of its own, and they all go at
 * once when the set is cleared. */
#ifndef TR_HELD_H
#define TR_HELD_H
#include <stddef.h>

#include "journal.h"

/* A backend sets the held records aside when this many wait (journal_pg.c writes them,
 * journal_sqlite.c packs them into its batch's bytes), so that the search for a step's record
 * (tr_held_find) stays short. */
#define TR_HELD_MAX 64

typedef struct {
  const char *key, *state;                   /* state: a TR_STEP_* constant, not copied */
  const char *result, *error, *created_id;   /* NULL: none */
  long long seq;
  double started, ended;   /* < 0: none (an end whose start was written before) */
} tr_held_row;

typedef struct tr_held_block tr_held_block;

typedef struct {
  tr_held_row *rows;
  size_t n, cap;
  char *run;                 /* the run of every held record, once one was held */
  tr_held_block *blocks;     /* the copies of the records' texts, newest first */
} tr_held;

/* Whether a record of run_id must wait until the held ones are written: TR_HELD_MAX wait, or
 * they are another run's. */
int tr_held_full(const tr_held *h, const char *run_id);

/* The newest held record of (run_id, key, seq), or NULL. */
tr_held_row *tr_held_find(tr_held *h, const char *run_id, const char *key, long long seq);

/* Holds a new record of run_id's step (key, seq) (the run's records are written first when
 * tr_held_full says so: the caller's job). Returns it, or NULL when memory ran out. */
tr_held_row *tr_held_add(tr_held *h, const char *run_id, const char *key, long long seq,
                         const char *state, double started, double ended, const char *result,
                         const char *error, const char *created_id);

/* Updates r in place: its state, its start when started >= 0, its end, and its texts (the
 * created id only when one is given). Returns 0, or -1 when memory ran out (r unchanged). */
int tr_held_update(tr_held *h, tr_held_row *r, const char *state, double started, double ended,
                   const char *result, const char *error, const char *created_id);

/* Fills out (journal.h; free it with tr_journal_step_free) with copies of r's fields, as a read
 * of the step would give them. */
void tr_held_step(const tr_held_row *r, tr_journal_step *out);

/* Forgets the records (written, or given up), keeping memory for the next ones. */
void tr_held_clear(tr_held *h);

/* Frees everything. */
void tr_held_free(tr_held *h);

#endif
