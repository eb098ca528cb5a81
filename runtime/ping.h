/* --ping URL: healthchecks.io's pinging API (https://healthchecks.io/docs/http_api/), which
 * Healthchecks' self-hosted servers and other dead man's switches speak too: POST URL/start when
 * the run starts, URL when it exits 0, URL/<exit code> otherwise. */
#ifndef TR_PING_H
#define TR_PING_H
#include <stddef.h>

/* Checks a --ping URL before anything runs: an http or https URL that parses. Returns 0, or -1
 * with why in err. */
int tr_ping_check(const char *url, char *err, size_t n);

/* Registers the URL as a secret (its path names the check: whoever has it can ping), so that no
 * output shows it; taskrun's own lines about a ping show scheme://host/[REDACTED]. */
void tr_ping_secret(const char *url);

/* Sends one ping: POST of `body` (len bytes, text) to URL + `suffix` ("/start", "", "/3") with
 * ?rid=RID, in `timeout` seconds at most, retries included (a transport error, 429 or 5xx is
 * tried again while time is left, up to 3 times). A failure is logged as a warning and is all
 * it does. Returns 0 when the server answered 2xx, else -1. */
int tr_ping_send(const char *url, const char *suffix, const char *rid, const char *body,
                 size_t len, double timeout);

#endif
