/* Small helpers shared by every part of the simulator: queries, time, JSON text. */
#ifndef SIM_UTIL_H
#define SIM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The n-th (0-based) value of key in a raw query string, percent-decoded and malloc'd;
 * NULL when there is no such value. */
char *sim_query_get(const char *query, const char *key, int n);
/* The n-th (0-based) key of a raw query string, percent-decoded and malloc'd; NULL past
 * the end. */
char *sim_query_key(const char *query, int n);
/* Decodes %XX and '+' in place. */
void sim_url_decode(char *s);

/* Milliseconds on the monotonic clock. */
double sim_now_ms(void);
/* Milliseconds since the Unix epoch. */
int64_t sim_epoch_ms(void);
/* Formats epoch milliseconds as RFC 3339 UTC with milliseconds into out (>= 32 bytes). */
void sim_rfc3339(int64_t epoch_ms, char *out, size_t size);
/* Formats epoch seconds as an IMF-fixdate (HTTP-date) into out (>= 32 bytes). */
void sim_http_date(int64_t epoch_s, char *out, size_t size);

/* A JSON string for text that may not be UTF-8: invalid bytes become '?'. */
json_t *sim_json_text(const char *text, size_t len);
/* Parses a decimal integer in [min, max]; returns 0 on success. */
int sim_parse_long(const char *text, long min, long max, long *out);

/* Repeatable random numbers from --seed; thread-safe. */
void sim_rng_seed(uint64_t seed);
/* Starts the sequence over from the last seed, so a reset repeats the same choices. */
void sim_rng_restart(void);
/* The next 64 random bits. */
uint64_t sim_rng_next(void);
/* Fills out with n random characters from alphabet, then a NUL. */
void sim_rng_chars(char *out, size_t n, const char *alphabet);
/* A random UUIDv4 into out (>= 37 bytes). */
void sim_rng_uuid(char *out);

#endif
