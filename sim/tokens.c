/* Issued tokens sit in a small hash table under one lock. They come from getrandom, not from
 * the --seed generator: a token is a secret, and drawing it from the seeded sequence would
 * shift every task ID a seeded run chose after it. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "tokens.h"
#include "util.h"

#define BUCKETS 1024

typedef struct issued {
  char token[SIM_TOKEN_LEN + 1];
  sim_provider provider;
  double expires_ms;      /* monotonic */
  struct issued *next;
} issued;

typedef struct {
  unsigned long requests, issued, refused, revoked;
} counts;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static issued *table[BUCKETS];
static counts stats[SIM_PROVIDERS];

static size_t bucket(const char *token)
{
  size_t h = 5381;
  for (const unsigned char *c = (const unsigned char *)token; *c; c++) h = h * 33 + *c;
  return h % BUCKETS;
}

static issued *find(const char *token)
{
  for (issued *t = table[bucket(token)]; t; t = t->next) {
    if (strcmp(t->token, token) == 0) return t;
  }
  return NULL;
}

/* Base62 from the kernel's generator; falls back to the seeded one if getrandom fails. */
static void random_token(char *out)
{
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char raw[SIM_TOKEN_LEN];
  if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)sim_rng_next();
  }
  for (size_t i = 0; i < SIM_TOKEN_LEN; i++) out[i] = alphabet[raw[i] % 62];
  out[SIM_TOKEN_LEN] = '\0';
}

/* Drops expired tokens from one bucket, so a long run with short lifetimes stays small; an
 * expired token still in the table answers "expired", one dropped answers "invalid": both
 * are the same 401. */
static void prune(size_t b, double now)
{
  issued **link = &table[b];
  while (*link) {
    issued *t = *link;
    if (t->expires_ms + 60e3 < now) {
      *link = t->next;
      free(t);
    } else {
      link = &t->next;
    }
  }
}

void sim_tokens_issue(sim_provider p, double ttl_ms, char *out)
{
  issued *t = calloc(1, sizeof *t);
  double now = sim_now_ms();
  pthread_mutex_lock(&lock);
  do random_token(out); while (find(out));
  stats[p].issued++;
  if (t) {
    memcpy(t->token, out, sizeof t->token);
    t->provider = p;
    t->expires_ms = now + ttl_ms;
    size_t b = bucket(out);
    prune(b, now);
    t->next = table[b];
    table[b] = t;
  }
  pthread_mutex_unlock(&lock);
}

sim_token_state sim_tokens_check(sim_provider p, const char *token)
{
  double now = sim_now_ms();
  pthread_mutex_lock(&lock);
  issued *t = find(token);
  sim_token_state st = !t || t->provider != p ? SIM_TOKEN_UNKNOWN
                       : now < t->expires_ms ? SIM_TOKEN_LIVE : SIM_TOKEN_EXPIRED;
  pthread_mutex_unlock(&lock);
  return st;
}

size_t sim_tokens_revoke(int p)
{
  size_t n = 0;
  pthread_mutex_lock(&lock);
  for (size_t b = 0; b < BUCKETS; b++) {
    issued **link = &table[b];
    while (*link) {
      issued *t = *link;
      if (p < 0 || (int)t->provider == p) {
        *link = t->next;
        stats[t->provider].revoked++;
        free(t);
        n++;
      } else {
        link = &t->next;
      }
    }
  }
  pthread_mutex_unlock(&lock);
  return n;
}

void sim_tokens_count(sim_provider p, int refused)
{
  pthread_mutex_lock(&lock);
  stats[p].requests++;
  if (refused) stats[p].refused++;
  pthread_mutex_unlock(&lock);
}

json_t *sim_tokens_stats(void)
{
  json_t *out = json_object();
  size_t live[SIM_PROVIDERS] = { 0 };
  double now = sim_now_ms();
  pthread_mutex_lock(&lock);
  for (size_t b = 0; b < BUCKETS; b++) {
    for (issued *t = table[b]; t; t = t->next) {
      if (now < t->expires_ms) live[t->provider]++;
    }
  }
  for (int p = 0; p < SIM_PROVIDERS; p++) {
    if (p == SIM_ASTRA) continue;
    json_object_set_new(out, sim_provider_name(p),
                        json_pack("{s:I,s:I,s:I,s:I,s:I}",
                                  "requests", (json_int_t)stats[p].requests,
                                  "issued", (json_int_t)stats[p].issued,
                                  "refused", (json_int_t)stats[p].refused,
                                  "revoked", (json_int_t)stats[p].revoked,
                                  "live", (json_int_t)live[p]));
  }
  pthread_mutex_unlock(&lock);
  return out;
}

void sim_tokens_clear(void)
{
  sim_tokens_revoke(-1);
  pthread_mutex_lock(&lock);
  memset(stats, 0, sizeof stats);
  pthread_mutex_unlock(&lock);
}
