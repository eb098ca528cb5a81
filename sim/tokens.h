/* Access tokens the simulator's token endpoints issue: random, each with its own expiry, and
 * accepted by the vendor APIs next to the configured static tokens until they expire or are
 * revoked. Also counts what each token endpoint was asked. */
#ifndef SIM_TOKENS_H
#define SIM_TOKENS_H

#include <jansson.h>
#include "config.h"

#define SIM_TOKEN_LEN 40

typedef enum { SIM_TOKEN_UNKNOWN, SIM_TOKEN_LIVE, SIM_TOKEN_EXPIRED } sim_token_state;

/* Issues a new token for p that lives ttl_ms, into out (>= SIM_TOKEN_LEN + 1 bytes). */
void sim_tokens_issue(sim_provider p, double ttl_ms, char *out);
/* Whether token was issued for p, and whether it still lives. */
sim_token_state sim_tokens_check(sim_provider p, const char *token);
/* Forgets the issued tokens of p (every provider when p < 0); returns how many. */
size_t sim_tokens_revoke(int p);
/* Counts one answered token request for p; refused when the credentials were wrong. */
void sim_tokens_count(sim_provider p, int refused);
/* {"redpanda": {"requests", "issued", "refused", "live", "revoked"}, ...}: never a token. */
json_t *sim_tokens_stats(void);
/* Revokes everything and zeroes the counts (reset, exit). */
void sim_tokens_clear(void);

#endif
