/* Held step records: see held.h. */
#include "held.h"

#include <stdlib.h>
#include <string.h>

/* Texts are copied into blocks of this size; a longer text gets a block of its own. */
#define BLOCK_SIZE 16384

struct tr_held_block {
  tr_held_block *next;
  size_t used, cap;
  char data[];
};

static tr_held_block *new_block(size_t cap) {
  tr_held_block *b = malloc(sizeof *b + cap);
  if (b) {
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
  }
  return b;
}

/* Sets *out to a copy of s[0..len) in the set's blocks. Returns 0, or -1 when memory ran out. */
static int copy_text(tr_held *h, const char *s, size_t len, const char **out) {
  tr_held_block *b = h->blocks;
  if (!b || b->cap - b->used <= len) {
    if (len >= BLOCK_SIZE / 4) {
      /* Its own block, behind the one being filled (which goes on taking small texts). */
      if (!(b = new_block(len + 1))) return -1;
      if (h->blocks) {
        b->next = h->blocks->next;
        h->blocks->next = b;
      } else {
        h->blocks = b;
      }
    } else {
      if (!(b = new_block(BLOCK_SIZE))) return -1;
      b->next = h->blocks;
      h->blocks = b;
    }
  }
  char *p = b->data + b->used;
  memcpy(p, s, len);
  p[len] = '\0';
  b->used += len + 1;
  *out = p;
  return 0;
}

/* copy_text of a NUL-terminated text, or NULL for none. */
static int copy_opt(tr_held *h, const char *s, const char **out) {
  if (!s) {
    *out = NULL;
    return 0;
  }
  return copy_text(h, s, strlen(s), out);
}

int tr_held_full(const tr_held *h, const char *run_id) {
  return h->n >= TR_HELD_MAX || (h->run && h->n && strcmp(h->run, run_id) != 0);
}

tr_held_row *tr_held_find(tr_held *h, const char *run_id, const char *key, long long seq) {
  for (size_t i = h->n; i-- > 0; ) {
    tr_held_row *r = &h->rows[i];
    if (r->seq == seq && strcmp(r->key, key) == 0 && strcmp(h->run, run_id) == 0) return r;
  }
  return NULL;
}

tr_held_row *tr_held_add(tr_held *h, const char *run_id, const char *key, long long seq,
                         const char *state, double started, double ended, const char *result,
                         const char *error, const char *created_id) {
  if (!h->run || strcmp(h->run, run_id) != 0) {
    char *copy = strdup(run_id);
    if (!copy) return NULL;
    free(h->run);
    h->run = copy;
  }
  if (h->n == h->cap) {
    size_t cap = h->cap ? 2 * h->cap : 16;
    tr_held_row *more = realloc(h->rows, cap * sizeof *more);
    if (!more) return NULL;
    h->rows = more;
    h->cap = cap;
  }
  tr_held_row *r = &h->rows[h->n];
  r->state = state;
  r->seq = seq;
  r->started = started;
  r->ended = ended;
  if (copy_opt(h, key, &r->key) != 0 || copy_opt(h, result, &r->result) != 0 ||
      copy_opt(h, error, &r->error) != 0 || copy_opt(h, created_id, &r->created_id) != 0)
    return NULL;
  h->n++;
  return r;
}

int tr_held_update(tr_held *h, tr_held_row *r, const char *state, double started, double ended,
                   const char *result, const char *error, const char *created_id) {
  const char *res, *err, *created = r->created_id;
  if (copy_opt(h, result, &res) != 0 || copy_opt(h, error, &err) != 0 ||
      (created_id && copy_opt(h, created_id, &created) != 0))
    return -1;
  r->state = state;
  if (started >= 0) r->started = started;
  r->ended = ended;
  r->result = res;
  r->error = err;
  r->created_id = created;
  return 0;
}

void tr_held_step(const tr_held_row *r, tr_journal_step *out) {
  memset(out, 0, sizeof *out);
  out->step_key = strdup(r->key);
  out->seq = r->seq;
  out->state = strdup(r->state);
  out->started = r->started;
  out->ended = r->ended;
  out->result = r->result ? strdup(r->result) : NULL;
  out->error = r->error ? strdup(r->error) : NULL;
  out->created_id = r->created_id ? strdup(r->created_id) : NULL;
}

void tr_held_clear(tr_held *h) {
  h->n = 0;
  /* One block of the usual size is kept for the next records; the others go. */
  tr_held_block *keep = NULL;
  for (tr_held_block *b = h->blocks, *next; b; b = next) {
    next = b->next;
    if (!keep && b->cap == BLOCK_SIZE) {
      keep = b;
    } else {
      free(b);
    }
  }
  if (keep) {
    keep->next = NULL;
    keep->used = 0;
  }
  h->blocks = keep;
}

void tr_held_free(tr_held *h) {
  tr_held_clear(h);
  free(h->blocks);
  free(h->rows);
  free(h->run);
  memset(h, 0, sizeof *h);
}
