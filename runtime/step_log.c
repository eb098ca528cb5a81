/* The step log's records: see step_log.h. */
#include "step_log.h"

#include <stdint.h>
#include <string.h>

static unsigned char *put_u64(unsigned char *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* The format's own byte order: one store, not eight (gcc does not merge the loop's). */
  memcpy(p, &v, 8);
#else
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
#endif
  return p + 8;
}

static unsigned char *put_text(unsigned char *p, const char *s, size_t len) {
  memcpy(p, s, len + 1);
  return p + len + 1;
}

void tr_step_log_put(tr_buf *b, const tr_step_record *r) {
  size_t key = strlen(r->key), state = strlen(r->state);
  size_t result = r->result ? strlen(r->result) : 0, error = r->error ? strlen(r->error) : 0;
  size_t created = r->created_id ? strlen(r->created_id) : 0;
  size_t need = 1 + key + 1 + state + 1 + 24 + 1 + (r->result ? result + 1 : 0) +
                (r->error ? error + 1 : 0) + (r->created_id ? created + 1 : 0);
  /* Made room for, then written in place: one check, not one per field. */
  unsigned char *p = (unsigned char *)tr_buf_grow(b, need);
  if (!p) return;
  *p++ = 'R';
  p = put_text(p, r->key, key);
  p = put_text(p, r->state, state);
  uint64_t started, ended;
  memcpy(&started, &r->started, sizeof started);
  memcpy(&ended, &r->ended, sizeof ended);
  p = put_u64(p, (uint64_t)r->seq);
  p = put_u64(p, started);
  p = put_u64(p, ended);
  *p++ = (unsigned char)((r->result ? 1 : 0) | (r->error ? 2 : 0) | (r->created_id ? 4 : 0));
  if (r->result) p = put_text(p, r->result, result);
  if (r->error) p = put_text(p, r->error, error);
  if (r->created_id) put_text(p, r->created_id, created);
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
