/* A 64-bit FNV-1a hash: enough to tell texts apart (a lock's name, a script's text, a call's
 * arguments), not a defence against anyone choosing them. */
#ifndef TR_HASH_H
#define TR_HASH_H
#include <stddef.h>
#include <stdint.h>

#define TR_FNV1A64_INIT 1469598103934665603ULL

/* Folds n bytes of p into h (start from TR_FNV1A64_INIT) and returns the new hash. */
static inline uint64_t tr_fnv1a64(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

#endif
