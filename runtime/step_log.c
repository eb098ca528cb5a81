/* The step log's records: see step_log.h. */
#include "step_log.h"

#include <stdint.h>
#include <string.h>

static void put_u64(tr_buf *b, uint64_t v) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(v >> (8 * i));
  tr_buf_put(b, bytes, sizeof bytes);
}

static void put_double(tr_buf *b, double d) {
  uint64_t v;
  memcpy(&v, &d, sizeof v);
  put_u64(b, v);
}

static void put_text(tr_buf *b, const char *s) {
  tr_buf_put(b, s, strlen(s) + 1);
}

void tr_step_log_put(tr_buf *b, const tr_step_record *r) {
  tr_buf_put(b, "R", 1);
  put_text(b, r->key);
  put_text(b, r->state);
  put_u64(b, (uint64_t)r->seq);
  put_double(b, r->started);
  put_double(b, r->ended);
  unsigned char flags = (unsigned char)((r->result ? 1 : 0) | (r->error ? 2 : 0) |
                                        (r->created_id ? 4 : 0));
  tr_buf_put(b, &flags, 1);
  if (r->result) put_text(b, r->result);
  if (r->error) put_text(b, r->error);
  if (r->created_id) put_text(b, r->created_id);
}

/* The NUL-terminated text at *pos, moving past it; NULL when it runs past the end. */
static const char *get_text(const char *blob, size_t len, size_t *pos) {
  const char *s = blob + *pos;
  const char *nul = memchr(s, '\0', len - *pos);
  if (!nul) return NULL;
  *pos += (size_t)(nul - s) + 1;
  return s;
}

static int get_u64(const char *blob, size_t len, size_t *pos, uint64_t *v) {
  if (len - *pos < 8) return -1;
  const unsigned char *p = (const unsigned char *)blob + *pos;
  *v = 0;
  for (int i = 0; i < 8; i++) *v |= (uint64_t)p[i] << (8 * i);
  *pos += 8;
  return 0;
}

static int get_double(const char *blob, size_t len, size_t *pos, double *d) {
  uint64_t v;
  if (get_u64(blob, len, pos, &v) != 0) return -1;
  memcpy(d, &v, sizeof *d);
  return 0;
}

int tr_step_log_next(const char *blob, size_t len, size_t *pos, tr_step_record *r) {
  if (*pos >= len) return 0;
  if (blob[(*pos)++] != 'R') return -1;
  uint64_t seq;
  memset(r, 0, sizeof *r);
  if (!(r->key = get_text(blob, len, pos)) || !(r->state = get_text(blob, len, pos)) ||
      get_u64(blob, len, pos, &seq) != 0 || get_double(blob, len, pos, &r->started) != 0 ||
      get_double(blob, len, pos, &r->ended) != 0 || *pos >= len)
    return -1;
  r->seq = (long long)seq;
  unsigned char flags = (unsigned char)blob[(*pos)++];
  if (flags & ~7u) return -1;
  if ((flags & 1) && !(r->result = get_text(blob, len, pos))) return -1;
  if ((flags & 2) && !(r->error = get_text(blob, len, pos))) return -1;
  if ((flags & 4) && !(r->created_id = get_text(blob, len, pos))) return -1;
  return 1;
}
