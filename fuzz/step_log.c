/* libFuzzer target: tr_step_log_next on arbitrary bytes (a damaged step_log row). It never
 * reads past the blob, every text it returns ends inside it, and what it reads writes back as
 * the same bytes. */
#include <string.h>

#include "fuzz_common.h"
#include "step_log.h"

static int inside(const char *s, const uint8_t *data, size_t size) {
  return !s || ((const uint8_t *)s >= data && (const uint8_t *)s + strlen(s) < data + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: ASan sees any read past the end. */
  char *blob = malloc(size ? size : 1);
  if (!blob) return 0;
  memcpy(blob, data, size);
  tr_buf again = { 0 };
  size_t pos = 0, good = 0;
  tr_step_record r;
  int rc;
  while ((rc = tr_step_log_next(blob, size, &pos, &r)) == 1) {
    const uint8_t *b = (const uint8_t *)blob;
    if (!inside(r.key, b, size) || !inside(r.state, b, size) || !inside(r.result, b, size) ||
        !inside(r.error, b, size) || !inside(r.created_id, b, size) || pos > size) {
      fprintf(stderr, "fuzz: a record points outside the blob\n");
      abort();
    }
    tr_step_log_put(&again, &r);
    good = pos;
  }
  if (!again.failed && (again.n != good || (good && memcmp(again.p, blob, good) != 0))) {
    fprintf(stderr, "fuzz: %zu bytes read as records write back as %zu other bytes\n", good,
            again.n);
    abort();
  }
  free(again.p);
  free(blob);
  return 0;
}
