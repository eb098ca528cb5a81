/* Small blocks for the Lua state's allocator: see pool.c. */
#ifndef TR_POOL_H
#define TR_POOL_H

#include <stddef.h>

/* Blocks of at most this many bytes come from the pool; larger ones from malloc. */
#define TR_POOL_MAX 256

/* A block of 1..TR_POOL_MAX bytes, or NULL when memory ran out. */
void *tr_pool_alloc(size_t size);
/* Gives back a block of tr_pool_alloc, with the size it was asked for. */
void tr_pool_free(void *p, size_t size);
/* Whether a block made for a bytes serves b bytes as it is (1..TR_POOL_MAX both): the same
 * size class; under a sanitizer, the same size. */
int tr_pool_same(size_t a, size_t b);

#endif
