/* Timers: a binary min-heap of deadlines on the monotonic clock. */
#ifndef TR_TIMER_H
#define TR_TIMER_H
#include <stddef.h>
#include <stdint.h>

#define TR_TIMER_IDLE ((size_t)-1)

typedef struct tr_timer tr_timer;
struct tr_timer {
  double due;               /* monotonic seconds */
  uint64_t seq;             /* ties fire in the order they were armed */
  size_t slot;              /* index in the heap, or TR_TIMER_IDLE */
  void (*fire)(tr_timer *t);
};

typedef struct {
  tr_timer **v;
  size_t n, cap;
  uint64_t seq;
} tr_heap;

/* Seconds on the monotonic clock. */
double tr_now(void);

void tr_timer_init(tr_timer *t, void (*fire)(tr_timer *t));
/* Arms t to fire at `due`; re-arms it if already armed. Returns -1 when out of memory. */
int tr_heap_arm(tr_heap *h, tr_timer *t, double due);
/* Disarms t; harmless when it is not armed. */
void tr_heap_disarm(tr_heap *h, tr_timer *t);
/* The earliest timer, or NULL. */
tr_timer *tr_heap_top(const tr_heap *h);
void tr_heap_free(tr_heap *h);

#endif
