/* The latest output on stderr, kept in memory: --log-on-failure holds every line here instead
 * of writing it (printed at the run's end only when it failed), and --ping keeps the tail it
 * sends with a failure. A ring of bytes: once it is full, the oldest go first. */
#ifndef TR_LOGTAIL_H
#define TR_LOGTAIL_H
#include <stddef.h>

/* Keeps the last `cap` bytes from now on (0: keeps nothing). Returns 0, or -1 out of memory. */
int tr_logtail_init(size_t cap);
/* Whether a tail is kept. */
int tr_logtail_on(void);
/* How many bytes it keeps at most. */
size_t tr_logtail_cap(void);
/* Appends len bytes (already redacted: what stderr would get). */
void tr_logtail_add(const char *s, size_t len);
/* A malloc'd copy of the last `max` bytes kept (all of them when max is 0 or more), starting
 * at a line's start, with its length in *len and the number of lines that came before it and
 * are not in it in *dropped. NULL when nothing is kept, or out of memory. */
char *tr_logtail_text(size_t max, size_t *len, unsigned long long *dropped);
/* Frees the ring; nothing is kept from then on. */
void tr_logtail_free(void);

#endif
