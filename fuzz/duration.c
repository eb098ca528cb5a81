/* libFuzzer target: tr_duration_parse on arbitrary text. It never reads past the string, and
 * a duration it accepts is a finite, non-negative number of seconds. */
#include <math.h>
#include <string.h>

#include "duration.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: ASan sees any read past the terminating NUL. */
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  double seconds = -1;
  if (tr_duration_parse(s, &seconds) == 0 && !(isfinite(seconds) && seconds >= 0)) {
    fprintf(stderr, "fuzz: \"%s\" parsed as %g seconds\n", s, seconds);
    abort();
  }
  free(s);
  return 0;
}
