/* The latest output on stderr, kept in a ring of bytes (see logtail.h). Lines are counted as
 * they come, so the text taken at the end can say how many earlier lines it no longer has. */
#include "logtail.h"

#include <stdlib.h>
#include <string.h>

static struct {
  char *p;
  size_t cap;
  size_t head;                   /* where the next byte goes */
  unsigned long long bytes;      /* every byte ever added */
  unsigned long long lines;      /* every newline ever added */
} tail;

int tr_logtail_init(size_t cap) {
  tr_logtail_free();
  if (cap == 0) return 0;
  tail.p = malloc(cap);
  if (!tail.p) return -1;
  tail.cap = cap;
  return 0;
}

int tr_logtail_on(void) { return tail.p != NULL; }

size_t tr_logtail_cap(void) { return tail.cap; }

static unsigned long long count_lines(const char *s, size_t len) {
  unsigned long long n = 0;
  for (const char *end = s + len; (s = memchr(s, '\n', (size_t)(end - s))); s++) n++;
  return n;
}

void tr_logtail_add(const char *s, size_t len) {
  if (!tail.p || len == 0) return;
  tail.bytes += len;
  tail.lines += count_lines(s, len);
  /* More than the ring holds: only its last cap bytes can stay. */
  if (len > tail.cap) {
    s += len - tail.cap;
    len = tail.cap;
  }
  size_t first = tail.cap - tail.head < len ? tail.cap - tail.head : len;
  memcpy(tail.p + tail.head, s, first);
  memcpy(tail.p, s + first, len - first);
  tail.head = (tail.head + len) % tail.cap;
}

char *tr_logtail_text(size_t max, size_t *len, unsigned long long *dropped) {
  *len = 0;
  *dropped = 0;
  if (!tail.p || tail.bytes == 0) return NULL;
  size_t kept = tail.bytes < tail.cap ? (size_t)tail.bytes : tail.cap;
  size_t n = max && max < kept ? max : kept;
  char *out = malloc(n + 1);
  if (!out) return NULL;
  size_t start = (tail.head + tail.cap - n) % tail.cap;
  size_t first = tail.cap - start < n ? tail.cap - start : n;
  memcpy(out, tail.p + start, first);
  memcpy(out + first, tail.p, n - first);
  /* Cut short of what was written, the text may begin inside a line: that piece goes. The byte
   * before it, when the ring still has it, says whether a line begins there. */
  size_t skip = 0;
  int cut = n < kept ? tail.p[(start + tail.cap - 1) % tail.cap] != '\n' : n < tail.bytes;
  if (cut) {
    char *nl = memchr(out, '\n', n);
    skip = nl ? (size_t)(nl - out) + 1 : n;
  }
  memmove(out, out + skip, n - skip);
  n -= skip;
  out[n] = '\0';
  *len = n;
  *dropped = tail.lines - count_lines(out, n);
  return out;
}

void tr_logtail_free(void) {
  free(tail.p);
  memset(&tail, 0, sizeof tail);
}
