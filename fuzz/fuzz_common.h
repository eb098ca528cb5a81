/* What the libFuzzer targets in fuzz/ share. */
#ifndef TR_FUZZ_COMMON_H
#define TR_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken contract: say which, then abort so libFuzzer saves the input as a crash. */
static inline void tr_fuzz_die(const char *why) {
  fprintf(stderr, "fuzz: %s\n", why ? why : "(no message)");
  abort();
}

#endif
