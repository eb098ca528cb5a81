/* A min-heap of timers ordered by (due, seq). Each timer knows its slot, so disarming a
 * cancelled sleep is O(log n) instead of a scan over thousands of timers. */
#include "timer.h"

#include <stdlib.h>
#include <time.h>

double tr_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tr_timer_init(tr_timer *t, void (*fire)(tr_timer *t)) {
  t->due = 0;
  t->seq = 0;
  t->slot = TR_TIMER_IDLE;
  t->fire = fire;
}

static int earlier(const tr_timer *a, const tr_timer *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void place(tr_heap *h, size_t i, tr_timer *t) {
  h->v[i] = t;
  t->slot = i;
}

static void sift_up(tr_heap *h, size_t i) {
  tr_timer *t = h->v[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!earlier(t, h->v[parent])) break;
    place(h, i, h->v[parent]);
    i = parent;
  }
  place(h, i, t);
}

static void sift_down(tr_heap *h, size_t i) {
  tr_timer *t = h->v[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->n) break;
    if (child + 1 < h->n && earlier(h->v[child + 1], h->v[child])) child++;
    if (!earlier(h->v[child], t)) break;
    place(h, i, h->v[child]);
    i = child;
  }
  place(h, i, t);
}

int tr_heap_arm(tr_heap *h, tr_timer *t, double due) {
  tr_heap_disarm(h, t);
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    tr_timer **v = realloc(h->v, cap * sizeof *v);
    if (!v) return -1;
    h->v = v;
    h->cap = cap;
  }
  t->due = due;
  t->seq = h->seq++;
  place(h, h->n++, t);
  sift_up(h, t->slot);
  return 0;
}

void tr_heap_disarm(tr_heap *h, tr_timer *t) {
  size_t i = t->slot;
  if (i == TR_TIMER_IDLE) return;
  t->slot = TR_TIMER_IDLE;
  tr_timer *last = h->v[--h->n];
  if (i == h->n) return;
  place(h, i, last);
  if (i > 0 && earlier(last, h->v[(i - 1) / 2])) sift_up(h, i);
  else sift_down(h, i);
}

tr_timer *tr_heap_top(const tr_heap *h) {
  return h->n ? h->v[0] : NULL;
}

void tr_heap_free(tr_heap *h) {
  for (size_t i = 0; i < h->n; i++) h->v[i]->slot = TR_TIMER_IDLE;
  free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}
