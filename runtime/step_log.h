/* The step log's record format. Steps that are not durable (explicit steps, waits) reach the
 * SQLite journal as batches: a row of the step_log table holds records written together (up to
 * a page of them), so a batch costs a row insert per few dozen steps instead of one per step.
 * A record is a step's state at one moment (its start, or its end); replayed in order into the
 * steps table, the last record of a step wins. The format is byte-exact on every architecture
 * (little-endian numbers):
 *
 *   'R' key NUL state NUL seq:8 started:8 ended:8 flags:1 [result NUL] [error NUL] [created NUL]
 *
 * seq is a two's complement integer; started and ended are IEEE doubles, negative for none;
 * flags bit 0, 1 and 2 say whether result, error and created_id follow. */
#ifndef TR_STEP_LOG_H
#define TR_STEP_LOG_H
#include <stddef.h>

#include "escape.h"

typedef struct {
  const char *key, *state;
  long long seq;
  double started, ended;                     /* < 0: none */
  const char *result, *error, *created_id;   /* NULL: none */
} tr_step_record;

/* Appends r to b (b->failed says when memory ran out). */
void tr_step_log_put(tr_buf *b, const tr_step_record *r);

/* Reads the record at *pos of blob[0..len) into r (its texts point into blob), and moves *pos
 * past it: 1, or 0 at the end, or -1 when the bytes are not a record. */
int tr_step_log_next(const char *blob, size_t len, size_t *pos, tr_step_record *r);

#endif
