/* Small blocks for the Lua state's allocator: a free list per 16-byte size class, carved from
 * 64 KiB slabs. Lua gives the size of every block it frees or resizes, so a block needs no
 * header: a 64-byte CallInfo or table takes 64 bytes, not malloc's 80 or 72 with its own, and
 * taking or giving back one is a couple of loads and stores instead of glibc's bins, which
 * 10,000 concurrent waits fragment (malloc and free were a third of taskrun's CPU there, perf).
 * Slabs are never given back: a freed block serves the next one of its class. Built with a
 * sanitizer, every block comes from malloc, so that ASan sees each one. */
#include "pool.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_OFF 1
#endif
#endif

#define GRAIN 16
#define CLASSES (TR_POOL_MAX / GRAIN)
#define SLAB_BYTES (64 * 1024)

#ifdef POOL_OFF

/* Every block is malloc's, of its exact size. */
int tr_pool_same(size_t a, size_t b) {
  return a == b;
}

void *tr_pool_alloc(size_t size) {
  return malloc(size);
}

void tr_pool_free(void *p, size_t size) {
  (void)size;
  free(p);
}

#else

static size_t class_of(size_t size) {
  return (size + GRAIN - 1) / GRAIN - 1;
}

int tr_pool_same(size_t a, size_t b) {
  return class_of(a) == class_of(b);
}

typedef struct slab {
  struct slab *next;
  max_align_t align;       /* the blocks after it start aligned */
} slab;

static struct {
  void *free[CLASSES];     /* each class's free blocks, linked through their first word */
  char *cur, *end;         /* what is left of the newest slab */
  slab *slabs;             /* every slab, so that they stay reachable (valgrind) */
} P;

void *tr_pool_alloc(size_t size) {
  size_t c = class_of(size);
  void *p = P.free[c];
  if (p) {
    P.free[c] = *(void **)p;
    return p;
  }
  size_t bytes = (c + 1) * GRAIN;
  if ((size_t)(P.end - P.cur) < bytes) {
    /* What is left of the old slab (under TR_POOL_MAX bytes) goes unused. */
    slab *s = malloc(SLAB_BYTES);
    if (!s) return NULL;
    s->next = P.slabs;
    P.slabs = s;
    P.cur = (char *)(s + 1);
    P.end = (char *)s + SLAB_BYTES;
  }
  p = P.cur;
  P.cur += bytes;
  return p;
}

void tr_pool_free(void *p, size_t size) {
  size_t c = class_of(size);
  *(void **)p = P.free[c];
  P.free[c] = p;
}

#endif
