/* Helpers with no state of their own, apart from the random generator. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util.h"

static int hexval(int c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void sim_url_decode(char *s)
{
  char *out = s;
  for (; *s; s++) {
    if (*s == '+') {
      *out++ = ' ';
    } else if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
      *out++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
      s += 2;
    } else {
      *out++ = *s;
    }
  }
  *out = '\0';
}

char *sim_query_get(const char *query, const char *key, int n)
{
  size_t keylen = strlen(key);
  const char *p = query;
  while (p && *p) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char *pair = strndup(p, len);
    if (!pair) return NULL;
    char *eq = strchr(pair, '=');
    char *value = eq ? eq + 1 : pair + len;
    if (eq) *eq = '\0';
    sim_url_decode(pair);
    if (strlen(pair) == keylen && memcmp(pair, key, keylen) == 0 && n-- == 0) {
      char *result = strdup(value);
      free(pair);
      if (result) sim_url_decode(result);
      return result;
    }
    free(pair);
    p = end ? end + 1 : NULL;
  }
  return NULL;
}

char *sim_query_key(const char *query, int n)
{
  const char *p = query;
  while (p && *p) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    size_t keylen = strcspn(p, "=&");
    if (len > 0 && n-- == 0) {
      char *key = strndup(p, keylen < len ? keylen : len);
      if (key) sim_url_decode(key);
      return key;
    }
    p = end ? end + 1 : NULL;
  }
  return NULL;
}

double sim_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int64_t sim_epoch_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sim_rfc3339(int64_t epoch_ms, char *out, size_t size)
{
  time_t secs = (time_t)(epoch_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char base[24];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, size, "%s.%03dZ", base, (int)(epoch_ms % 1000));
}

void sim_http_date(int64_t epoch_s, char *out, size_t size)
{
  static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
  static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                  "Sep", "Oct", "Nov", "Dec" };
  time_t secs = (time_t)epoch_s;
  struct tm tm;
  gmtime_r(&secs, &tm);
  /* Spelled out rather than strftime so the locale can never change the names. */
  snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

json_t *sim_json_text(const char *text, size_t len)
{
  json_t *s = json_stringn(text, len);
  if (s) return s;
  char *copy = malloc(len + 1);
  if (!copy) return json_string("");
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    copy[i] = (c >= 0x80 || c == 0) ? '?' : (char)c;
  }
  s = json_stringn(copy, len);
  free(copy);
  return s;
}

int sim_parse_long(const char *text, long min, long max, long *out)
{
  if (!text || !*text) return -1;
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng_seed;

void sim_rng_seed(uint64_t seed)
{
  pthread_mutex_lock(&rng_lock);
  rng_state = rng_seed = seed;
  pthread_mutex_unlock(&rng_lock);
}

void sim_rng_restart(void)
{
  pthread_mutex_lock(&rng_lock);
  rng_state = rng_seed;
  pthread_mutex_unlock(&rng_lock);
}

/* splitmix64: tiny, good enough for IDs and coin flips, and the same on every platform. */
uint64_t sim_rng_next(void)
{
  pthread_mutex_lock(&rng_lock);
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  pthread_mutex_unlock(&rng_lock);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void sim_rng_chars(char *out, size_t n, const char *alphabet)
{
  size_t k = strlen(alphabet);
  for (size_t i = 0; i < n; i++) out[i] = alphabet[sim_rng_next() % k];
  out[n] = '\0';
}

void sim_rng_uuid(char *out)
{
  uint64_t a = sim_rng_next(), b = sim_rng_next();
  a = (a & ~0xf000ULL) | 0x4000ULL;                  /* version 4 */
  b = (b & ~(0xcULL << 60)) | (0x8ULL << 60);        /* RFC 4122 variant */
  snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
           (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xffff), (unsigned)(b >> 48),
           (unsigned long long)(b & 0xffffffffffffULL));
}
